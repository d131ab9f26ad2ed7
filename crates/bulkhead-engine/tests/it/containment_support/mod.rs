//! Support for `tests/it/containment.rs`: building run configs around a hostile
//! module, decoding the journal (via `bulkhead_engine::records`) and auditing
//! the offender's orders against its policy independently of the risk engine.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bulkhead_abi::{Event, EventKind, OrderRequest, OrderType, Reason, Side};
use bulkhead_engine::records;
use bulkhead_engine::{LoadedConfig, RunError, RunReport, run_config};
use bulkhead_journal::{JournalReader, Record};
use bulkhead_model::Instrument;
use bulkhead_risk::Policy;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Where a hostile module comes from.
#[derive(Clone, Debug)]
pub enum Module {
    /// `strategies/wasm/hostile/<name>.wasm`, built from `strategies/hostile/<crate>` by
    /// `scripts/build-strategies.sh`.
    Rust(&'static str),
    /// `strategies/hostile/wat/<name>.wat`, compiled here with the `wat` crate.
    Wat(&'static str),
}

impl Module {
    pub fn path(&self) -> PathBuf {
        match self {
            Module::Rust(n) => repo().join("strategies/wasm/hostile").join(format!("{n}.wasm")),
            Module::Wat(n) => repo().join("strategies/hostile/wat").join(format!("{n}.wat")),
        }
    }
    /// The module's wasm bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let p = self.path();
        match self {
            Module::Rust(_) => std::fs::read(&p).unwrap_or_else(|e| {
                panic!("{}: {e} (run scripts/build-strategies.sh to build the hostile catalogue)", p.display())
            }),
            Module::Wat(_) => wat::parse_file(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        }
    }
    pub fn file_name(&self) -> String {
        match self {
            Module::Rust(n) => format!("{n}.wasm"),
            Module::Wat(n) => format!("{n}.wasm"),
        }
    }
}

/// The hostile strategy added to a run.
#[derive(Clone, Debug)]
pub struct HostileSpec {
    pub module: Module,
    /// `key = value` TOML lines for `[strategies.config]`.
    pub config: String,
    /// File under `examples/policies/`.
    pub policy: &'static str,
    /// TOML inline-table body for `limits`, e.g. `deadline_us = 200_000`.
    pub limits: String,
}

pub const HOSTILE_NAME: &str = "hostile";
/// Strategy ids in every run: config order.
pub const SID_MM: u32 = 0;
pub const SID_MOMENTUM: u32 = 1;
pub const SID_HOSTILE: u32 = 2;

/// A run config: the demo (`examples/demo.toml`) without its misbehaving
/// strategy, shortened to `events`, journalling into `dir`, plus `hostile`
/// (appended last) if given. Written as TOML and loaded with the real loader.
pub fn write_config(dir: &Path, events: u64, hostile: Option<&HostileSpec>) -> LoadedConfig {
    let examples = repo().join("examples");
    let text = std::fs::read_to_string(examples.join("demo.toml")).unwrap();
    let mut t: toml::Table = toml::from_str(&text).unwrap();
    let journal = dir.join("journal");
    {
        let run = t.get_mut("run").unwrap().as_table_mut().unwrap();
        run.insert("journal".into(), toml::Value::String(journal.display().to_string()));
        run.insert("overwrite_journal".into(), toml::Value::Boolean(false));
        absolutize(run, &examples);
    }
    {
        let g = t["data"].as_table().unwrap()["generator"].clone();
        let mut g = g.as_table().unwrap().clone();
        g.insert("events".into(), toml::Value::Integer(events as i64));
        t.get_mut("data").unwrap().as_table_mut().unwrap().insert("generator".into(), toml::Value::Table(g));
    }
    let strategies = t.get_mut("strategies").unwrap().as_array_mut().unwrap();
    strategies.retain(|s| s["name"].as_str() != Some("misbehaving"));
    for s in strategies.iter_mut() {
        absolutize(s.as_table_mut().unwrap(), &examples);
    }
    let mut out = toml::to_string(&t).unwrap();
    if let Some(h) = hostile {
        let module_file = dir.join(h.module.file_name());
        std::fs::write(&module_file, h.module.bytes()).unwrap();
        out.push_str(&format!(
            "\n[[strategies]]\nname = \"{HOSTILE_NAME}\"\nmodule = \"{}\"\npolicy = \"{}\"\nlimits = {{ {} }}\n[strategies.config]\n{}\n",
            module_file.display(),
            examples.join("policies").join(h.policy).display(),
            h.limits,
            h.config
        ));
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, out).unwrap();
    LoadedConfig::load(&path).unwrap_or_else(|e| panic!("{e} (did scripts/build-strategies.sh run?)"))
}

/// Make every string value of `t` that names an existing file relative to
/// `base` (module, policy, firm policy, …) absolute, so the config can live
/// in a temporary directory.
fn absolutize(t: &mut toml::Table, base: &Path) {
    let keys: Vec<String> = t.keys().cloned().collect();
    for k in keys {
        if let Some(toml::Value::String(s)) = t.get(&k)
            && !s.is_empty()
            && base.join(s).is_file()
        {
            let abs = base.join(s).display().to_string();
            t.insert(k, toml::Value::String(abs));
        }
    }
}

pub fn try_run(cfg: &LoadedConfig) -> Result<RunReport, RunError> {
    run_config(cfg, &mut |_, _| {})
}

// ------------------------------------------------------------------ journal

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(b[o..o + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn i32_at(b: &[u8], o: usize) -> i32 {
    i32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}
fn i64_at(b: &[u8], o: usize) -> i64 {
    i64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

/// One decoded journal record (layouts of `bulkhead_engine::records`).
#[derive(Clone, Debug, PartialEq)]
pub enum Rec {
    Market(Event),
    Order { sid: u32, id: u64, reason: u16, limit: i64, requested: i64, current: i64, req: OrderRequest },
    Cancel { sid: u32, id: u64, reason: u16, instrument: i32 },
    Venue { sid: u32, ev: Event },
    Fault { sid: u32, kind: String, message: String },
    State { scope: u8, target: u32, state: u8, cause: String },
    Log { sid: u32, level: i32, msg: Vec<u8> },
    Timer { sid: u32, at_ns: u64, token: u64, rc: i32 },
    Invalid { sid: u32, text: String },
    Other(u16, Vec<u8>),
}

impl Rec {
    pub fn sid(&self) -> Option<u32> {
        match self {
            Rec::Order { sid, .. }
            | Rec::Cancel { sid, .. }
            | Rec::Venue { sid, .. }
            | Rec::Fault { sid, .. }
            | Rec::Log { sid, .. }
            | Rec::Timer { sid, .. }
            | Rec::Invalid { sid, .. } => Some(*sid),
            Rec::State { scope: 0, target, .. } => Some(*target),
            _ => None,
        }
    }
}

pub fn decode(r: &Record) -> Rec {
    let p = &r.payload;
    match r.kind {
        records::MARKET => Rec::Market(Event::decode(p).unwrap()),
        records::ORDER => Rec::Order {
            sid: u32_at(p, 0),
            id: u64_at(p, 4),
            reason: u16_at(p, 12),
            limit: i64_at(p, 16),
            requested: i64_at(p, 24),
            current: i64_at(p, 32),
            req: OrderRequest::decode(&p[40..72]).expect("journalled order requests are valid"),
        },
        records::CANCEL => {
            Rec::Cancel { sid: u32_at(p, 0), id: u64_at(p, 4), reason: u16_at(p, 12), instrument: i32_at(p, 14) }
        }
        records::VENUE => Rec::Venue { sid: u32_at(p, 0), ev: Event::decode(&p[4..]).unwrap() },
        records::FAULT => {
            let n = u16_at(p, 4) as usize;
            Rec::Fault {
                sid: u32_at(p, 0),
                kind: String::from_utf8_lossy(&p[6..6 + n]).into_owned(),
                message: String::from_utf8_lossy(&p[6 + n..]).into_owned(),
            }
        }
        records::STATE => Rec::State {
            scope: p[0],
            target: u32_at(p, 1),
            state: p[5],
            cause: String::from_utf8_lossy(&p[6..]).into_owned(),
        },
        records::LOG => Rec::Log { sid: u32_at(p, 0), level: i32_at(p, 4), msg: p[8..].to_vec() },
        records::TIMER => {
            Rec::Timer { sid: u32_at(p, 0), at_ns: u64_at(p, 4), token: u64_at(p, 12), rc: i32_at(p, 20) }
        }
        records::INVALID => Rec::Invalid { sid: u32_at(p, 0), text: String::from_utf8_lossy(&p[4..]).into_owned() },
        k => Rec::Other(k, p.clone()),
    }
}

/// The whole journal, verified (the reader checks every chain link) and decoded.
pub fn read_journal(dir: &Path) -> Vec<(u64, Rec)> {
    bulkhead_journal::verify(dir).expect("journal verifies");
    JournalReader::open(dir)
        .unwrap()
        .map(|r| {
            let r = r.expect("journal record");
            (r.ts_ns, decode(&r))
        })
        .collect()
}

/// Everything journalled about strategy `sid`'s decisions (orders, cancels,
/// venue responses, timers, logs, invalid records), in order, with times.
pub fn decisions_of(journal: &[(u64, Rec)], sid: u32) -> Vec<(u64, Rec)> {
    journal
        .iter()
        .filter(|(_, r)| {
            matches!(
                r,
                Rec::Order { .. }
                    | Rec::Cancel { .. }
                    | Rec::Venue { .. }
                    | Rec::Timer { .. }
                    | Rec::Log { .. }
                    | Rec::Invalid { .. }
                    | Rec::Fault { .. }
            ) && r.sid() == Some(sid)
        })
        .cloned()
        .collect()
}

// ------------------------------------------------------------------ policy audit

/// Re-checks, from the journal alone, that every order of `sid` that was
/// accepted (and so could reach the venue) was inside `policy`. Independent of
/// the risk engine's code: it rebuilds the reference price from MARKET quotes
/// and the position / open orders from ORDER and VENUE records. Returns the
/// violations found (empty = contained).
#[expect(clippy::too_many_lines, reason = "over the ceiling when it was set (issue 14): split when next changed")]
pub fn audit(journal: &[(u64, Rec)], sid: u32, policy: &Policy, instruments: &[Instrument]) -> Vec<String> {
    #[derive(Clone, Copy)]
    struct Open {
        side: Side,
        remaining: i64,
    }
    let mut bad = Vec::new();
    let mut mid2: BTreeMap<u32, i128> = BTreeMap::new(); // bid + ask (half-ticks)
    let mut pos: BTreeMap<u32, i64> = BTreeMap::new();
    let mut open: BTreeMap<u64, (u32, Open)> = BTreeMap::new();
    let mut accepted_ids: BTreeMap<u64, ()> = BTreeMap::new();
    let mut accepted_times: Vec<u64> = Vec::new();
    let mut faulted_at: Option<usize> = None;
    for (i, (ts, r)) in journal.iter().enumerate() {
        match r {
            Rec::Market(ev) if ev.kind == EventKind::Quote && ev.price > 0 && ev.a > 0 => {
                mid2.insert(ev.instrument, ev.price as i128 + ev.a as i128);
            }
            Rec::Fault { sid: s, .. } if *s == sid => faulted_at = Some(i),
            Rec::Order { sid: s, id, reason: 0, req, .. } if *s == sid => {
                let at = format!("order #{id} at record {i} (ts {ts})");
                if faulted_at.is_some() {
                    bad.push(format!("{at}: accepted after the strategy's fault"));
                }
                let Some(lim) = policy.limits(req.instrument) else {
                    bad.push(format!("{at}: instrument {} not allowed", req.instrument));
                    continue;
                };
                if !policy.side_allowed(req.side)
                    || !policy.order_type_allowed(req.order_type)
                    || !policy.tif_allowed(req.tif)
                {
                    bad.push(format!("{at}: side/type/tif not allowed: {req:?}"));
                }
                if req.qty <= 0 || req.qty > lim.max_order_qty.get() {
                    bad.push(format!("{at}: qty {} over max_order_qty {}", req.qty, lim.max_order_qty));
                }
                let inst = instruments.iter().find(|x| x.id == req.instrument).unwrap();
                let Some(&r2) = mid2.get(&req.instrument) else {
                    bad.push(format!("{at}: accepted without a reference price"));
                    continue;
                };
                let px2 = if req.order_type == OrderType::Limit { 2 * req.price as i128 } else { r2 };
                let notional = req.qty as i128 * px2 * inst.tick_lot_value as i128 / 2;
                if notional > i128::from(lim.max_order_notional.get()) {
                    bad.push(format!("{at}: notional {notional} over {}", lim.max_order_notional));
                }
                if req.order_type == OrderType::Limit {
                    let dev2 = (2 * req.price as i128 - r2).abs();
                    if dev2 * 10_000 > policy.price_collar_bps as i128 * r2 {
                        bad.push(format!(
                            "{at}: price {} outside the {} bps collar",
                            req.price, policy.price_collar_bps
                        ));
                    }
                }
                // R4 worst case (every open order of a side filled), as the policy defines it.
                let p = *pos.get(&req.instrument).unwrap_or(&0) as i128;
                let (mut ob, mut os) = (0i128, 0i128);
                for (inst_id, o) in open.values() {
                    if *inst_id == req.instrument {
                        match o.side {
                            Side::Buy => ob += o.remaining as i128,
                            Side::Sell => os += o.remaining as i128,
                        }
                    }
                }
                let before = (p + ob).abs().max((p - os).abs());
                let (b, s) = if req.side == Side::Buy { (req.qty as i128, 0) } else { (0, req.qty as i128) };
                let after = (p + ob + b).abs().max((p - os - s).abs());
                if after > i128::from(lim.max_position.get()) && after > before {
                    bad.push(format!("{at}: worst-case position {after} over max_position {}", lim.max_position));
                }
                if open.len() >= policy.max_open_orders as usize {
                    bad.push(format!("{at}: {} orders already open (max {})", open.len(), policy.max_open_orders));
                }
                // R5: a token bucket of `rate` with a one-second burst lets at most
                // 2 × rate orders through in any one-second window.
                accepted_times.push(*ts);
                let window = accepted_times.iter().filter(|&&t| t + 1_000_000_000 > *ts).count();
                if window > 2 * policy.max_orders_per_sec as usize {
                    bad.push(format!("{at}: {window} accepted orders within one second"));
                }
                open.insert(*id, (req.instrument, Open { side: req.side, remaining: req.qty }));
                accepted_ids.insert(*id, ());
            }
            Rec::Venue { sid: s, ev } if *s == sid => {
                if !accepted_ids.contains_key(&ev.id) {
                    bad.push(format!("venue event {:?} for order #{} that risk never accepted", ev.kind, ev.id));
                }
                match ev.kind {
                    EventKind::Fill => {
                        if faulted_at.is_some() {
                            bad.push(format!("fill of order #{} after the strategy's fault", ev.id));
                        }
                        let side = ev.side.unwrap();
                        *pos.entry(ev.instrument).or_default() += side.sign() * ev.qty;
                        if ev.b <= 0 {
                            open.remove(&ev.id);
                        } else if let Some((_, o)) = open.get_mut(&ev.id) {
                            o.remaining = ev.b;
                        }
                    }
                    EventKind::OrderRejected | EventKind::OrderCancelled => {
                        open.remove(&ev.id);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    bad
}

/// Ids of `sid`'s orders open at the venue just before journal index `upto`.
pub fn open_orders_before(journal: &[(u64, Rec)], sid: u32, upto: usize) -> Vec<u64> {
    let mut open = BTreeMap::new();
    for (_, r) in &journal[..upto] {
        if let Rec::Venue { sid: s, ev } = r
            && *s == sid
        {
            match ev.kind {
                EventKind::OrderAccepted => {
                    open.insert(ev.id, ());
                }
                EventKind::Fill if ev.b <= 0 => {
                    open.remove(&ev.id);
                }
                EventKind::OrderRejected | EventKind::OrderCancelled => {
                    open.remove(&ev.id);
                }
                _ => {}
            }
        }
    }
    open.into_keys().collect()
}

pub fn reason_name(code: u16) -> String {
    Reason::from_code(code).map_or_else(|| format!("#{code}"), |r| r.name().to_string())
}

/// Strategy-vs-strategy matches: the venue emits the aggressor's `Fill`
/// immediately followed by the resting order's (maker) `Fill`, same price and
/// quantity. Returns (taker sid, maker sid, ts) for each.
pub fn fill_pairs(journal: &[(u64, Rec)]) -> Vec<(u32, u32, u64)> {
    let mut out = Vec::new();
    for w in journal.windows(2) {
        if let ((ts, Rec::Venue { sid: t, ev: a }), (_, Rec::Venue { sid: m, ev: b })) = (&w[0], &w[1])
            && a.kind == EventKind::Fill
            && b.kind == EventKind::Fill
            && a.flags & bulkhead_abi::EVENT_FLAG_MAKER == 0
            && b.flags & bulkhead_abi::EVENT_FLAG_MAKER != 0
            && a.price == b.price
            && a.qty == b.qty
        {
            out.push((*t, *m, *ts));
        }
    }
    out
}
