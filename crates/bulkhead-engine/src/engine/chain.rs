//! The engine's side of smart-contract intents (`bulkhead-chain`).
//!
//! A strategy's `chain_call` is checked here (contract by name, its
//! `[chain]` policy, kill switches) and journalled (`CHAIN` step `intent`)
//! before anything leaves the engine. What the node reports — the
//! simulation, the signed transaction's hash, the receipt, a failure — comes
//! back through the worker and is taken at event boundaries
//! ([`Engine::poll_chain`]): each is journalled as an input step, then the
//! decision that follows from it (sign or refuse, mined as simulated or a
//! deviation) is derived and journalled before it takes effect. A signed
//! transaction is broadcast only once its hash is in the journal. A replay
//! re-feeds the journalled inputs at the same boundaries
//! ([`Engine::chain_input`]) and re-derives every decision without a node.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bulkhead_abi::{ChainIntent, Event, EventKind, Reason};
use bulkhead_chain::policy::ChainPolicy;
use bulkhead_chain::types::{Address, B256, I256};
use bulkhead_chain::worker::{ChainWorker, Done, Failure, Job};
use bulkhead_chain::{ContractBook, Intent, Mined, Refusal, SimOutcome, codec};
use bulkhead_risk::{Scope, TradingState};
use bulkhead_surveillance::{AlertAction, Rule};

use super::Engine;
use crate::records::{self, ChainStep, Record};

/// Most intents one strategy may have between `chain_call` and a final
/// event, whatever its policy says (the policy's `max_in_flight` is lower).
pub const MAX_LIVE_INTENTS: usize = 64;

/// One strategy's chain state.
pub(crate) struct ChainSlot {
    policy: ChainPolicy,
    account: Address,
    account_name: String,
    /// Chain access halted after a deviation (only a new run lifts it).
    halted: bool,
    live: BTreeMap<u64, Live>,
}

struct Live {
    intent: Intent,
    sim: Option<SimOutcome>,
    /// Wall clock when the intent was journalled, for the latency figures
    /// only (never for a decision; `None` in a replay).
    asked: Option<Instant>,
}

/// Latency samples kept per kind ([`ChainLatency`]); later ones are
/// counted, not kept.
pub const MAX_LATENCY_SAMPLES: usize = 1 << 16;

/// Wall-clock latency of the chain path, measured in a live run only (a
/// replay has no node): for the report and BENCHMARKS.md, never journalled,
/// never used for a decision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainLatency {
    /// `chain_call` journalled -> the decision after the simulation
    /// journalled (sign or refuse), nanoseconds.
    pub decide_ns: Vec<u64>,
    /// `chain_call` journalled -> the receipt's settlement journalled.
    pub settle_ns: Vec<u64>,
    /// Samples not kept once [`MAX_LATENCY_SAMPLES`] were.
    pub dropped: u64,
    /// Wall time from the first intent to the last decision or settlement.
    pub span_ns: u64,
    first: Option<Instant>,
}

impl ChainLatency {
    fn push(&mut self, which: fn(&mut ChainLatency) -> &mut Vec<u64>, asked: Option<Instant>) {
        let Some(t) = asked else { return };
        let now = Instant::now();
        let first = *self.first.get_or_insert(t);
        self.span_ns = u64::try_from(now.saturating_duration_since(first).as_nanos()).unwrap_or(u64::MAX);
        let ns = u64::try_from(now.saturating_duration_since(t).as_nanos()).unwrap_or(u64::MAX);
        let v = which(self);
        if v.len() < MAX_LATENCY_SAMPLES {
            v.push(ns);
        } else {
            self.dropped += 1;
        }
    }

    /// The `q` quantile (0..=1) of `samples`, nearest rank.
    pub fn quantile(samples: &[u64], q: f64) -> Option<u64> {
        if samples.is_empty() {
            return None;
        }
        let mut v = samples.to_vec();
        v.sort_unstable();
        let rank = ((q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize).clamp(1, v.len());
        Some(v[rank - 1])
    }
}

/// Counters for the report and the control plane.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainStats {
    pub intents: u64,
    pub refused: BTreeMap<u16, u64>,
    pub signed: u64,
    pub mined: u64,
    pub reverted: u64,
    pub deviations: u64,
    pub latency: ChainLatency,
}

/// How intents reach a node.
enum Link {
    /// No `[chain]` in the run.
    Off,
    /// A worker talks to the node.
    Node(ChainWorker),
    /// The node could not be reached when the run started: every intent
    /// that passes its checks fails with `CHAIN_UNAVAILABLE`.
    Down(String),
    /// Replaying a journal: the node's answers come from it.
    Replay,
}

/// Every strategy's chain state and the link to the node.
pub struct ChainHub {
    book: ContractBook,
    slots: Vec<Option<ChainSlot>>,
    next_id: Vec<u64>,
    link: Link,
    lockstep: bool,
    wait: Duration,
    deviation_bps: u32,
    /// Failures made up for a `Down` link, taken at the next boundary like
    /// the node's answers (so a replay meets them at the same place).
    synthetic: Vec<Done>,
    /// Jobs asked for during a guest call, submitted after it.
    jobs: Vec<Job>,
    pub(crate) stats: ChainStats,
    buf: Vec<u8>,
}

impl Default for ChainHub {
    fn default() -> Self {
        ChainHub {
            book: ContractBook::default(),
            slots: Vec::new(),
            next_id: Vec::new(),
            link: Link::Off,
            lockstep: true,
            wait: Duration::from_secs(35),
            deviation_bps: 50,
            synthetic: Vec::new(),
            jobs: Vec::new(),
            stats: ChainStats::default(),
            buf: Vec::new(),
        }
    }
}

/// How the engine reaches the chain: a connected worker, a node that is
/// down (and why), or a replay.
pub enum ChainLink {
    Node(ChainWorker),
    Down(String),
    Replay,
}

/// What [`Engine::set_chain`] needs.
pub struct ChainParams {
    pub book: ContractBook,
    pub link: ChainLink,
    pub lockstep: bool,
    /// Longest wait for one step in lockstep (RPC + receipt timeouts).
    pub wait: Duration,
    pub deviation_bps: u32,
    /// Per strategy (by sid): its policy, account name and address.
    pub strategies: Vec<Option<(ChainPolicy, String, Address)>>,
}

fn saturating_i64(v: I256) -> i64 {
    i64::try_from(v).unwrap_or(if v.is_negative() { i64::MIN } else { i64::MAX })
}

/// (largest outflow, largest inflow) over the account's token deltas, as
/// positive i64 (saturating): what a chain event carries.
fn flows(deltas: &[(usize, I256)]) -> (i64, i64) {
    let out = deltas.iter().map(|(_, d)| *d).filter(|d| d.is_negative()).min().map_or(0, |d| saturating_i64(-d));
    let inn = deltas.iter().map(|(_, d)| *d).filter(|d| d.is_positive()).max().map_or(0, saturating_i64);
    (out, inn)
}

impl ChainHub {
    pub(crate) fn active(&self) -> bool {
        !matches!(self.link, Link::Off)
    }

    fn next_id(&mut self, sid: u32) -> u64 {
        let i = sid as usize;
        if self.next_id.len() <= i {
            self.next_id.resize(i + 1, 1);
        }
        let id = self.next_id[i];
        self.next_id[i] += 1;
        id
    }

    /// The check of a `chain_call` before anything is journalled: policy
    /// present, not halted, the contract known, the policy's scope.
    #[allow(clippy::result_large_err, reason = "a refusal is this check's normal outcome")]
    fn check(
        &mut self,
        sid: u32,
        wire: &ChainIntent,
        id: u64,
        now: u64,
        state: TradingState,
    ) -> Result<Intent, Refusal> {
        let refuse = |reason: Reason, field: &str, message: String| Refusal::plain(reason, field, message);
        let Some(slot) = self.slots.get_mut(sid as usize).and_then(Option::as_mut) else {
            let why =
                if self.active() { "this strategy's policy has no [chain] table" } else { "the run has no [chain]" };
            return Err(refuse(Reason::ChainNoPolicy, "chain", why.into()));
        };
        if slot.halted || state != TradingState::Active {
            let why = if slot.halted { "chain access halted after a deviation" } else { "the strategy is not active" };
            return Err(refuse(Reason::ChainHalted, "state", format!("{why} ({})", state.name())));
        }
        if slot.live.len() >= MAX_LIVE_INTENTS {
            return Err(refuse(Reason::ChainRate, "in_flight", format!("{MAX_LIVE_INTENTS} intents in flight")));
        }
        let intent = bulkhead_chain::intent::resolve(wire, id, &self.book, slot.account)?;
        slot.policy.check_intent(&intent, slot.account, now)?;
        Ok(intent)
    }

    fn submit(&mut self, job: Job) {
        match &mut self.link {
            Link::Node(w) => w.submit(job),
            Link::Down(why) => {
                let failure = Failure { unavailable: true, message: why.clone() };
                if let Job::Simulate { sid, id, .. } = job {
                    self.synthetic.push(Done::Simulated { sid, id, result: Err(failure) });
                }
            }
            Link::Off | Link::Replay => {}
        }
    }

    /// Submit the jobs asked for during a guest call.
    pub(crate) fn flush(&mut self) {
        for job in std::mem::take(&mut self.jobs) {
            self.submit(job);
        }
    }
}

/// `CHAIN` body of a `signed` step: hash then nonce.
fn signed_body(hash: &B256, nonce: u64) -> [u8; 40] {
    let mut b = [0u8; 40];
    b[..32].copy_from_slice(hash.as_slice());
    b[32..].copy_from_slice(&nonce.to_le_bytes());
    b
}

impl Engine {
    /// Connect the run to a chain: contracts, each strategy's policy and
    /// account (journalled as `CHAIN` step `account`), and the link.
    pub fn set_chain(&mut self, p: ChainParams) {
        let mut hub = ChainHub {
            book: p.book,
            link: match p.link {
                ChainLink::Node(w) => Link::Node(w),
                ChainLink::Down(why) => Link::Down(why),
                ChainLink::Replay => Link::Replay,
            },
            lockstep: p.lockstep,
            wait: p.wait,
            deviation_bps: p.deviation_bps,
            ..ChainHub::default()
        };
        for (sid, s) in p.strategies.into_iter().enumerate() {
            let slot = s.map(|(policy, account_name, account)| {
                self.journal.record(&Record::Chain {
                    sid: sid as u32,
                    id: 0,
                    step: ChainStep::Account,
                    reason: Reason::Accepted,
                    body: account.as_slice(),
                    text: account_name.as_bytes(),
                });
                ChainSlot { policy, account, account_name, halted: false, live: BTreeMap::new() }
            });
            hub.slots.push(slot);
        }
        if let Link::Down(why) = &hub.link {
            tracing::warn!(problem = %why, "chain node unavailable: intents will be refused with CHAIN_UNAVAILABLE");
        }
        self.chain = hub;
    }

    /// Chain counters (intents, refusals by reason, mined, deviations).
    pub fn chain_stats(&self) -> &ChainStats {
        &self.chain.stats
    }

    /// Why the node could not be reached at the start, if it could not.
    pub fn chain_unavailable(&self) -> Option<&str> {
        match &self.chain.link {
            Link::Down(why) => Some(why),
            _ => None,
        }
    }

    /// Take what the node finished. In lockstep, wait (bounded) until
    /// nothing is in flight so a backtest sees results at the same events.
    pub(crate) fn poll_chain(&mut self) {
        if !self.chain.active() {
            return;
        }
        loop {
            let done = if let Some(d) = self.chain.synthetic.pop() {
                Some(d)
            } else if let Link::Node(w) = &mut self.chain.link {
                if self.chain.lockstep && w.in_flight() > 0 {
                    let d = w.recv_timeout(self.chain.wait);
                    if d.is_none() {
                        tracing::warn!(in_flight = w.in_flight(), "chain: no answer from the node in time; going on");
                    }
                    d
                } else {
                    w.try_recv()
                }
            } else {
                None
            };
            let Some(d) = done else { break };
            self.chain_input(d);
        }
    }

    /// One answer of the node (live) or of the journal (replay): journal
    /// it, then derive and journal what follows, then act.
    pub fn chain_input(&mut self, done: Done) {
        match done {
            Done::Simulated { sid, id, result: Ok(sim) } => self.on_simulated(sid, id, sim),
            Done::Signed { sid, id, result: Ok((hash, nonce)) } => self.on_signed(sid, id, hash, nonce),
            Done::Mined { sid, id, result: Ok(m) } => self.on_mined(sid, id, m),
            Done::Simulated { sid, id, result: Err(f) } => self.on_failed(sid, id, ChainStep::Simulated, &f),
            Done::Signed { sid, id, result: Err(f) } => self.on_failed(sid, id, ChainStep::Signed, &f),
            Done::Mined { sid, id, result: Err(f) } => self.on_failed(sid, id, ChainStep::Mined, &f),
        }
    }

    fn chain_record(&mut self, sid: u32, id: u64, step: ChainStep, reason: Reason, body: &[u8], text: &str) {
        self.journal.record(&Record::Chain { sid, id, step, reason, body, text: text.as_bytes() });
    }

    fn chain_event(
        &mut self,
        sid: u32,
        kind: EventKind,
        id: u64,
        tag: u64,
        reason: Reason,
        flow: (i64, i64, i64, u32),
    ) {
        let mut e = Event::new(kind, flow.3, self.now);
        e.id = id;
        e.tag = tag;
        e.a = i64::from(reason.code());
        e.qty = flow.0;
        e.b = flow.1;
        e.price = flow.2;
        if let Some(slot) = self.slots.get_mut(sid as usize) {
            slot.book.push_inbox(e);
        }
    }

    /// An intent ends refused: event to the strategy, slot freed.
    fn chain_refused(&mut self, sid: u32, id: u64, tag: u64, reason: Reason) {
        *self.chain.stats.refused.entry(reason.code()).or_default() += 1;
        self.chain_event(sid, EventKind::ChainRejected, id, tag, reason, (0, 0, 0, 0));
        if let Some(slot) = self.chain.slots.get_mut(sid as usize).and_then(Option::as_mut) {
            slot.live.remove(&id);
            slot.policy.finished();
        }
    }

    fn on_simulated(&mut self, sid: u32, id: u64, sim: SimOutcome) {
        let mut body = std::mem::take(&mut self.chain.buf);
        codec::encode_sim(&sim, &mut body);
        let hash = blake3::hash(&body);
        let summary = format!(
            "simulation blake3={} block {} gas {} {} deltas {:?}",
            &hash.to_hex()[..16],
            sim.block_number,
            sim.gas_used,
            if sim.success { "ok" } else { "reverted" },
            sim.token_deltas
                .iter()
                .map(|(i, d)| format!("{}:{d}", self.chain.book.get(*i).map_or("?", |c| &c.name)))
                .collect::<Vec<_>>()
        );
        self.chain_record(sid, id, ChainStep::Simulated, Reason::Accepted, &body, &summary);
        self.chain.buf = body;
        let now = self.now;
        let Some(slot) = self.chain.slots.get_mut(sid as usize).and_then(Option::as_mut) else { return };
        let Some(live) = slot.live.get_mut(&id) else { return };
        let tag = live.intent.tag;
        let halted = slot.halted || self.risk.state(Scope::Strategy(sid)) != TradingState::Active;
        let decision = if halted {
            Err(Refusal::plain(Reason::ChainHalted, "state", "halted between the intent and its simulation"))
        } else {
            slot.policy.check_simulation(&live.intent, &sim, slot.account, now)
        };
        match decision {
            Err(r) => {
                let asked = live.asked;
                self.chain_record(sid, id, ChainStep::Decided, r.reason, &[], &r.to_string());
                self.chain.stats.latency.push(|l| &mut l.decide_ns, asked);
                self.chain_refused(sid, id, tag, r.reason);
            }
            Ok(spend) => {
                slot.policy.commit(&spend, now);
                let gas_limit =
                    (sim.gas_used.saturating_mul(13) / 10).saturating_add(10_000).min(slot.policy.max_gas());
                let job = Job::Sign {
                    sid,
                    id,
                    from: slot.account,
                    intent: live.intent.clone(),
                    block_timestamp: sim.block_timestamp,
                    gas_limit,
                };
                let (out, inn) = flows(&sim.token_deltas);
                let gas = i64::try_from(sim.gas_used).unwrap_or(i64::MAX);
                live.sim = Some(sim);
                let text = format!("sign: gas limit {gas_limit}, outflow {out}, inflow {inn}");
                let asked = live.asked;
                self.chain_record(sid, id, ChainStep::Decided, Reason::Accepted, &[], &text);
                self.chain.stats.latency.push(|l| &mut l.decide_ns, asked);
                self.chain_event(sid, EventKind::ChainSimulated, id, tag, Reason::Accepted, (out, inn, gas, 0));
                self.chain.submit(job);
            }
        }
    }

    fn on_signed(&mut self, sid: u32, id: u64, hash: B256, nonce: u64) {
        // Journal first: the hash is on record before the transaction can
        // reach the network.
        let text = format!("tx {hash} nonce {nonce}");
        self.chain_record(sid, id, ChainStep::Signed, Reason::Accepted, &signed_body(&hash, nonce), &text);
        let halted = self.risk.state(Scope::Strategy(sid)) == TradingState::Halted
            || self.risk.state(Scope::Global) == TradingState::Halted;
        let Some(slot) = self.chain.slots.get_mut(sid as usize).and_then(Option::as_mut) else { return };
        let Some(live) = slot.live.get(&id) else { return };
        let (tag, from) = (live.intent.tag, slot.account);
        if halted || slot.halted {
            let msg = "halted after signing: the transaction is discarded, never broadcast";
            self.chain_record(sid, id, ChainStep::Decided, Reason::ChainHalted, &[], msg);
            self.chain.submit(Job::Discard { sid, id });
            self.chain_refused(sid, id, tag, Reason::ChainHalted);
            return;
        }
        if !self.journal.make_durable() {
            // The journal failed: nothing may leave the engine.
            self.chain.submit(Job::Discard { sid, id });
            return;
        }
        self.chain.stats.signed += 1;
        self.chain.submit(Job::Broadcast { sid, id, from });
    }

    fn on_mined(&mut self, sid: u32, id: u64, m: Mined) {
        let mut body = std::mem::take(&mut self.chain.buf);
        codec::encode_mined(&m, &mut body);
        let text =
            format!("block {} gas {} {}", m.block_number, m.gas_used, if m.success { "success" } else { "reverted" });
        self.chain_record(sid, id, ChainStep::Mined, Reason::Accepted, &body, &text);
        self.chain.buf = body;
        let bps = self.chain.deviation_bps;
        let Some(slot) = self.chain.slots.get_mut(sid as usize).and_then(Option::as_mut) else { return };
        let Some(live) = slot.live.remove(&id) else { return };
        slot.policy.finished();
        let halt_on_deviation = slot.policy.halt_on_deviation();
        let tag = live.intent.tag;
        self.chain.stats.latency.push(|l| &mut l.settle_ns, live.asked);
        let (out, inn) = flows(&m.token_deltas);
        let gas = i64::try_from(m.gas_used).unwrap_or(i64::MAX);
        let block = m.block_number as u32;
        if !m.success {
            self.chain.stats.reverted += 1;
            let msg = "reverted on chain although its simulation succeeded";
            self.chain_record(sid, id, ChainStep::Settled, Reason::ChainSimulationReverted, &[], msg);
            self.chain_event(
                sid,
                EventKind::ChainReverted,
                id,
                tag,
                Reason::ChainSimulationReverted,
                (0, 0, gas, block),
            );
            return;
        }
        let sim = live.sim.unwrap_or_default();
        match deviation(&sim.token_deltas, &m.token_deltas, bps) {
            None => {
                self.chain.stats.mined += 1;
                self.chain_record(sid, id, ChainStep::Settled, Reason::Accepted, &[], "as simulated");
            }
            Some((token, simulated, actual)) => {
                self.chain.stats.deviations += 1;
                self.chain.stats.mined += 1;
                let name = self.chain.book.get(token).map_or("?", |c| c.name.as_str()).to_string();
                let text = format!(
                    "token {name}: simulated change {simulated}, mined {actual} (tolerance {bps} bps){}",
                    if halt_on_deviation { "; chain access halted" } else { "" }
                );
                self.chain_record(sid, id, ChainStep::Settled, Reason::ChainDeviation, &[], &text);
                let action = if halt_on_deviation { AlertAction::Halt } else { AlertAction::Alert };
                self.journal.record(&Record::Alert {
                    rule: Rule::ChainDeviation,
                    action,
                    sid,
                    other: records::NO_ACCOUNT,
                    instrument: records::NO_ACCOUNT,
                    window_ns: 0,
                    observed: saturating_i64(actual),
                    threshold: saturating_i64(simulated),
                    orders: &[],
                    text: text.as_bytes(),
                });
                tracing::warn!(sid, %text, "chain deviation");
                if let Some(s) = self.slots.get_mut(sid as usize) {
                    s.alerts += 1;
                }
                if halt_on_deviation && let Some(slot) = self.chain.slots.get_mut(sid as usize).and_then(Option::as_mut)
                {
                    slot.halted = true;
                }
            }
        }
        self.chain_event(sid, EventKind::ChainMined, id, tag, Reason::Accepted, (out, inn, gas, block));
    }

    fn on_failed(&mut self, sid: u32, id: u64, step: ChainStep, f: &Failure) {
        let reason = if f.unavailable { Reason::ChainUnavailable } else { Reason::Accepted };
        let text = format!("{} failed: {}", step.name(), f.message);
        self.chain_record(sid, id, ChainStep::Failed, reason, &[step.code()], &text);
        let tag = self
            .chain
            .slots
            .get(sid as usize)
            .and_then(Option::as_ref)
            .and_then(|s| s.live.get(&id))
            .map_or(0, |l| l.intent.tag);
        if step == ChainStep::Mined {
            // Sent (or perhaps sent): no receipt. The strategy learns it as
            // a revert with the reason; the allowance stays spent.
            self.chain.stats.reverted += 1;
            self.chain_event(sid, EventKind::ChainReverted, id, tag, Reason::ChainUnavailable, (0, 0, 0, 0));
            if let Some(slot) = self.chain.slots.get_mut(sid as usize).and_then(Option::as_mut) {
                slot.live.remove(&id);
                slot.policy.finished();
            }
        } else {
            self.chain_refused(sid, id, tag, Reason::ChainUnavailable);
        }
    }

    /// The strategy's account (name, address), if it has a chain policy.
    pub fn chain_account(&self, sid: u32) -> Option<(&str, Address)> {
        self.chain.slots.get(sid as usize).and_then(Option::as_ref).map(|s| (s.account_name.as_str(), s.account))
    }
}

/// The first token whose mined change differs from the simulated one by
/// more than `bps` of the simulated change (any change where none was
/// simulated): `(token, simulated, mined)`.
fn deviation(sim: &[(usize, I256)], mined: &[(usize, I256)], bps: u32) -> Option<(usize, I256, I256)> {
    let get = |v: &[(usize, I256)], t: usize| v.iter().find(|(i, _)| *i == t).map_or(I256::ZERO, |(_, d)| *d);
    let mut tokens: Vec<usize> = sim.iter().chain(mined).map(|(t, _)| *t).collect();
    tokens.sort_unstable();
    tokens.dedup();
    for t in tokens {
        let (s, a) = (get(sim, t), get(mined, t));
        let diff = (a.saturating_sub(s)).unsigned_abs();
        let allowed = s.unsigned_abs().saturating_mul(bulkhead_chain::types::U256::from(bps))
            / bulkhead_chain::types::U256::from(10_000u64);
        if diff > allowed {
            return Some((t, s, a));
        }
    }
    None
}

/// The host call: check, journal (`CHAIN` step `intent`), then ask the node
/// to simulate (after the guest call returns). Returns the intent id or
/// `-(reason)`.
pub(super) fn chain_call(ctx: &mut super::host::HostCtx<'_>, wire: &ChainIntent) -> i64 {
    let sid = ctx.book.sid;
    let id = ctx.chain.next_id(sid);
    let state = match (ctx.risk.state(Scope::Strategy(sid)), ctx.risk.state(Scope::Global)) {
        (TradingState::Active, g) => g,
        (s, _) => s,
    };
    let verdict = ctx.chain.check(sid, wire, id, ctx.now, state);
    let mut body = [0u8; bulkhead_abi::CHAIN_INTENT_MAX_SIZE];
    let n = wire.encode_into(&mut body);
    let (reason, text) = match &verdict {
        Ok(i) => {
            let name = ctx.chain.book.get(i.contract).map_or("?", |c| c.name.as_str());
            (Reason::Accepted, format!("contract {name} selector 0x{}", hex::encode(i.selector)))
        }
        Err(r) => (r.reason, r.to_string()),
    };
    let rec = Record::Chain { sid, id, step: ChainStep::Intent, reason, body: &body[..n], text: text.as_bytes() };
    if !ctx.book.charge_journal(rec.encoded_len()) {
        return -(Reason::ChainRate.code() as i64);
    }
    ctx.journal.record(&rec);
    ctx.book.last_call_ns = ctx.now;
    ctx.chain.stats.intents += 1;
    match verdict {
        Ok(intent) => {
            let asked = matches!(ctx.chain.link, Link::Node(_)).then(Instant::now);
            let Some(slot) = ctx.chain.slots.get_mut(sid as usize).and_then(Option::as_mut) else {
                return -(Reason::ChainNoPolicy.code() as i64);
            };
            let from = slot.account;
            slot.live.insert(id, Live { intent: intent.clone(), sim: None, asked });
            ctx.chain.jobs.push(Job::Simulate { sid, id, from, intent });
            id as i64
        }
        Err(r) => {
            *ctx.chain.stats.refused.entry(r.reason.code()).or_default() += 1;
            let mut e = Event::new(EventKind::ChainRejected, 0, ctx.now);
            e.id = id;
            e.tag = wire.tag;
            e.a = i64::from(r.reason.code());
            ctx.book.push_inbox(e);
            -(r.reason.code() as i64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_quantiles_are_nearest_rank_and_samples_are_capped() {
        assert_eq!(ChainLatency::quantile(&[], 0.5), None);
        let v: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(ChainLatency::quantile(&v, 0.5), Some(50));
        assert_eq!(ChainLatency::quantile(&v, 0.99), Some(99));
        assert_eq!(ChainLatency::quantile(&v, 1.0), Some(100));
        assert_eq!(ChainLatency::quantile(&v, 0.0), Some(1));
        let mut l = ChainLatency::default();
        let t = Some(Instant::now());
        for _ in 0..MAX_LATENCY_SAMPLES + 3 {
            l.push(|l| &mut l.decide_ns, t);
        }
        l.push(|l| &mut l.settle_ns, None);
        assert_eq!((l.decide_ns.len(), l.dropped, l.settle_ns.len()), (MAX_LATENCY_SAMPLES, 3, 0));
    }
}
