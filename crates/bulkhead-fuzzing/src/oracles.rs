//! Oracles: what must hold after a generated case ran, read from the run's
//! report and its journal alone.

use std::collections::VecDeque;

use bulkhead_abi::{Event, EventKind, OrderRequest, OrderType, Reason, TimeInForce};
use bulkhead_engine::Status;
use bulkhead_engine::records;
use bulkhead_journal::{RECORD_OVERHEAD, Record};

use crate::scenario::{ATTACKER, ATTACKER_SID, Run, WELL_BEHAVED};

/// The bounds the oracle holds the attacker to (ARCHITECTURE.md, table of
/// bounds): its limits, which the scenario leaves at their defaults.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Journal bytes (payload + record overhead) its host calls may cause per market event.
    pub journal_bytes_per_event: u64,
    /// Journal bytes per second of event time (a bucket one second deep).
    pub journal_bytes_per_sec: u64,
    /// Largest quantity its policy lets through (lots).
    pub max_order_qty: i64,
}

impl Default for Bounds {
    fn default() -> Self {
        let l = bulkhead_sandbox::Limits::default();
        Bounds {
            journal_bytes_per_event: l.journal_bytes_per_event,
            journal_bytes_per_sec: l.journal_bytes_per_sec,
            // examples/policies/hostile_scripted.toml: 0.005 BTC at 0.001 a lot.
            max_order_qty: 5,
        }
    }
}

/// What the oracle measured in one attacked run.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    pub market_events: u64,
    /// Most journal bytes the attacker's host calls caused in one market event.
    pub max_event_bytes: u64,
    /// Most such bytes within any one second of event time.
    pub max_window_bytes: u64,
    /// Every journal byte of records about the attacker.
    pub attacker_bytes: u64,
    /// Whole journal size (payload + overhead of every record).
    pub journal_bytes: u64,
    /// The attacker's fault kind, if it was quarantined, and the market
    /// event (1-based) it was quarantined in.
    pub fault: Option<String>,
    pub fault_at: Option<u64>,
    /// ORDER records of the attacker: accepted, refused by risk.
    pub accepted: u64,
    pub refused: u64,
    /// INVALID, CANCEL, TIMER and LOG records of the attacker.
    pub invalid: u64,
    pub cancels: u64,
    pub timers: u64,
    pub logs: u64,
    /// Fills of the attacker's orders (its orders touched the book).
    pub fills: u64,
}

fn u16_at(p: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(p.get(o..o + 2)?.try_into().ok()?))
}
fn u32_at(p: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(p.get(o..o + 4)?.try_into().ok()?))
}

/// The strategy a record is about, for the kinds that carry one first.
pub fn strategy_of(r: &Record) -> Option<u32> {
    match r.kind {
        records::ORDER
        | records::CANCEL
        | records::VENUE
        | records::FAULT
        | records::LOG
        | records::TIMER
        | records::INVALID => u32_at(&r.payload, 0),
        records::STATE if r.payload.first() == Some(&0) => u32_at(&r.payload, 1),
        _ => None,
    }
}

/// Records a strategy's host calls cause, charged against its journal budgets.
fn charged(kind: u16) -> bool {
    matches!(kind, records::ORDER | records::CANCEL | records::TIMER | records::LOG | records::INVALID)
}

fn size(r: &Record) -> u64 {
    (r.payload.len() + RECORD_OVERHEAD) as u64
}

/// Risk reasons whose evidence (the ORDER record's limit / requested /
/// current figures) is about the whole firm: R5 firm throttles, R7
/// self-trade prevention across strategies, R12 firm aggregates.
const FIRM_WIDE: [Reason; 6] = [
    Reason::FirmOrderRateThrottle,
    Reason::FirmMessageRateThrottle,
    Reason::SelfTradePrevented,
    Reason::FirmMaxPosition,
    Reason::FirmGrossNotional,
    Reason::FirmNetNotional,
];

/// Everything journalled about strategy `sid`'s decisions and their results,
/// as raw `(kind, time, payload)`: the unit of "decided exactly the same".
/// One field is normalised: the evidence figures of a refusal for a
/// firm-wide reason (which count the whole firm's orders — the attacker's
/// resting orders included — e.g. how many firm orders a market order would
/// cross) are zeroed; the refusal itself and its reason are kept.
pub fn decisions(records: &[Record], sid: u32) -> Vec<(u16, u64, Vec<u8>)> {
    records
        .iter()
        .filter(|r| r.kind != records::STATE && strategy_of(r) == Some(sid))
        .map(|r| {
            let mut p = r.payload.clone();
            if r.kind == records::ORDER
                && let Some(code) = u16_at(&p, 12)
                && FIRM_WIDE.iter().any(|x| x.code() == code)
                && let Some(evidence) = p.get_mut(16..40)
            {
                evidence.fill(0);
            }
            (r.kind, r.ts_ns, p)
        })
        .collect()
}

/// The containment oracle for one attacked run of `events` market events:
/// the host lived, only the attacker faulted (with a known kind, and did
/// nothing afterwards but have its orders cancelled), its charged journal
/// bytes stayed inside `bounds` per market event and per second of event
/// time, and nothing it got accepted was outside its policy. Returns the
/// measurements, or every violation found.
#[expect(clippy::too_many_lines, reason = "over the ceiling when it was set (issue 14): split when next changed")]
pub fn check_attacked(run: &Run, events: u64, bounds: &Bounds) -> Result<Measured, String> {
    let mut bad = Vec::new();
    let rep = &run.report;
    if rep.events != events {
        bad.push(format!("{} market events processed, {events} expected", rep.events));
    }
    for (_, name) in WELL_BEHAVED {
        match rep.strategies.iter().find(|s| s.name == name) {
            Some(s) if s.status == Status::Running && s.stats.events >= events => {}
            Some(s) => bad.push(format!("{name}: {:?} after {} events", s.status, s.stats.events)),
            None => bad.push(format!("{name}: missing from the report")),
        }
    }
    if !matches!(run.records.last(), Some(r) if r.kind == records::RUN_END) {
        bad.push("the journal does not end with RUN_END".into());
    }

    let mut m = Measured::default();
    let mut event_bytes = 0u64;
    // (time, bytes) of charged records within the last second of event time.
    let mut window: VecDeque<(u64, u64)> = VecDeque::new();
    let mut window_bytes = 0u64;
    let mut after_fault = false;
    for (i, r) in run.records.iter().enumerate() {
        m.journal_bytes += size(r);
        if r.kind == records::MARKET {
            m.market_events += 1;
            m.max_event_bytes = m.max_event_bytes.max(event_bytes);
            event_bytes = 0;
            continue;
        }
        let sid = strategy_of(r);
        if r.kind == records::FAULT {
            let klen = u16_at(&r.payload, 4).unwrap_or(0) as usize;
            let kind = String::from_utf8_lossy(r.payload.get(6..6 + klen).unwrap_or(&[])).into_owned();
            if sid != Some(ATTACKER_SID) {
                bad.push(format!("record {i}: strategy {sid:?} faulted ({kind}): only the attacker may"));
            } else if m.fault.is_some() {
                bad.push(format!("record {i}: a second fault ({kind}) after quarantine"));
            } else if !bulkhead_sandbox::FAULT_KINDS.contains(&kind.as_str()) {
                bad.push(format!("record {i}: unknown fault kind {kind:?}"));
            }
            m.fault.get_or_insert(kind);
            m.fault_at.get_or_insert(m.market_events);
            after_fault = true;
            m.attacker_bytes += size(r);
            continue;
        }
        if sid != Some(ATTACKER_SID) {
            continue;
        }
        m.attacker_bytes += size(r);
        let venue_event =
            (r.kind == records::VENUE).then(|| Event::decode(r.payload.get(4..).unwrap_or(&[]))).and_then(Result::ok);
        if after_fault {
            let cancelled = venue_event.as_ref().is_some_and(|e| e.kind == EventKind::OrderCancelled);
            if !(cancelled || r.kind == records::STATE) {
                bad.push(format!("record {i}: the attacker's kind-{} record after its fault", r.kind));
            }
        }
        if charged(r.kind) {
            let n = size(r);
            event_bytes += n;
            window.push_back((r.ts_ns, n));
            window_bytes += n;
            while window.front().is_some_and(|&(t, _)| t.saturating_add(1_000_000_000) <= r.ts_ns) {
                if let Some((_, b)) = window.pop_front() {
                    window_bytes -= b;
                }
            }
            m.max_window_bytes = m.max_window_bytes.max(window_bytes);
        }
        match r.kind {
            records::ORDER => {
                let reason = u16_at(&r.payload, 12).unwrap_or(u16::MAX);
                if reason != 0 {
                    m.refused += 1;
                    continue;
                }
                m.accepted += 1;
                match r.payload.get(40..72).map(OrderRequest::decode) {
                    Some(Ok(req)) => {
                        if req.order_type != OrderType::Limit
                            || req.tif != TimeInForce::PostOnly
                            || req.qty > bounds.max_order_qty
                        {
                            bad.push(format!("record {i}: accepted beyond the attacker's policy: {req:?}"));
                        }
                    }
                    _ => bad.push(format!("record {i}: accepted ORDER without a valid request")),
                }
            }
            records::INVALID => m.invalid += 1,
            records::CANCEL => m.cancels += 1,
            records::TIMER => m.timers += 1,
            records::LOG => m.logs += 1,
            records::VENUE if venue_event.is_some_and(|e| e.kind == EventKind::Fill) => m.fills += 1,
            _ => {}
        }
    }
    m.max_event_bytes = m.max_event_bytes.max(event_bytes);
    if m.max_event_bytes > bounds.journal_bytes_per_event {
        bad.push(format!(
            "the attacker caused {} journal bytes in one market event (bound {})",
            m.max_event_bytes, bounds.journal_bytes_per_event
        ));
    }
    // A bucket one second deep that refills at the rate lets through at most
    // two seconds' worth in any one-second window.
    if m.max_window_bytes > 2 * bounds.journal_bytes_per_sec {
        bad.push(format!(
            "the attacker caused {} journal bytes within one second of event time (bound 2 × {})",
            m.max_window_bytes, bounds.journal_bytes_per_sec
        ));
    }
    let offender = rep.strategies.iter().find(|s| s.name == ATTACKER);
    match (&m.fault, offender.map(|s| &s.status)) {
        (Some(_), Some(Status::Quarantined { .. })) | (None, Some(Status::Running)) => {}
        (f, s) => bad.push(format!("attacker fault {f:?} but status {s:?}")),
    }
    if bad.is_empty() { Ok(m) } else { Err(bad.join("\n")) }
}

/// The isolation oracle: each well-behaved strategy's journalled decisions
/// and results in `run` are byte-identical to `baseline`'s (the same
/// scenario without the attacker), but for the firm-wide evidence figures
/// [`decisions`] normalises.
pub fn same_decisions(baseline: &Run, run: &Run) -> Result<(), String> {
    for (sid, name) in WELL_BEHAVED {
        let a = decisions(&baseline.records, sid);
        let b = decisions(&run.records, sid);
        if a != b {
            let at = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
            let show = |d: Option<&(u16, u64, Vec<u8>)>| {
                d.map_or_else(
                    || "nothing".to_string(),
                    |(k, t, p)| format!("{} at {t}: {}", records::kind_name(*k), hex::encode(p)),
                )
            };
            return Err(format!(
                "{name} decided differently beside the attacker: first difference at its decision #{at} of {}/{}\n  without: {}\n  with:    {}",
                a.len(),
                b.len(),
                show(a.get(at)),
                show(b.get(at)),
            ));
        }
        if a.is_empty() {
            return Err(format!("{name} decided nothing: the isolation check would be vacuous"));
        }
    }
    Ok(())
}

/// Peak resident set of this process (`VmHWM`), in bytes (Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
