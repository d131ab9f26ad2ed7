//! Smart-contract intents as the control plane shows them: every `CHAIN`
//! record the engine journals (one step of one intent, see
//! `bulkhead_engine::records::ChainStep`) folded into one row per (strategy,
//! intent id) with its latest step, and each intent's outcome counted once
//! it is final. Behind `GET /api/v1/chain/intents` and
//! `bulkhead_chain_intents_total{strategy,outcome,reason}`.
//!
//! Owns: the bounded table of recent intents ([`ChainIntents`], at most
//! [`crate::MAX_RECENT`] rows, oldest dropped and counted) and the outcome
//! counts (at most strategies × 8 outcomes × 18 reasons keys). Runs on the
//! engine's thread, fed by `EngineControl` from the observer feed. Must
//! never decide anything about an intent (the engine did, and journalled
//! it), and never grow without a bound.
//!
//! How a record's step and reason become an outcome is
//! [`ChainOutcome::classify`]: only the engine's final records of an intent
//! (a refusal, `settled`, `failed`) end it; the others leave it `pending`.

use bulkhead_abi::Reason;
use bulkhead_engine::records::{ChainStep, Record};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Where an intent ended (or `pending` while it is under way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainOutcome {
    /// Under way: taken, simulated, signed or sent, with no final record yet.
    Pending,
    /// Refused when the strategy submitted it, before anything reached the
    /// node: its policy (contract, function, parameter, approval, value,
    /// deadline, slippage, rate), a kill switch or a malformed record
    /// (`intent` step with a reason).
    Rejected,
    /// Simulated, then refused before signing: the simulation reverted or
    /// breached a post-condition, or the strategy was halted meanwhile
    /// (`decided` step with a reason, nothing signed).
    Refused,
    /// Signed, then halted before broadcast: the transaction was thrown away,
    /// never sent (`decided` with `CHAIN_HALTED` after `signed`).
    Discarded,
    /// Mined and successful (`settled`): reason `ACCEPTED` when the mined
    /// change matched the simulation, `CHAIN_DEVIATION` when it did not.
    Mined,
    /// Mined but reverted on chain although its simulation succeeded
    /// (`settled` with `CHAIN_SIMULATION_REVERTED`).
    Reverted,
    /// The node failed before anything was sent (simulation or signing):
    /// `CHAIN_UNAVAILABLE`, as the strategy is told.
    Failed,
    /// Sent (or perhaps sent), then no receipt came (`failed` at the `mined`
    /// step): `CHAIN_UNAVAILABLE`; the strategy is told it reverted.
    Unconfirmed,
}

impl ChainOutcome {
    pub const ALL: [ChainOutcome; 8] = [
        ChainOutcome::Pending,
        ChainOutcome::Rejected,
        ChainOutcome::Refused,
        ChainOutcome::Discarded,
        ChainOutcome::Mined,
        ChainOutcome::Reverted,
        ChainOutcome::Failed,
        ChainOutcome::Unconfirmed,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            ChainOutcome::Pending => "pending",
            ChainOutcome::Rejected => "rejected",
            ChainOutcome::Refused => "refused",
            ChainOutcome::Discarded => "discarded",
            ChainOutcome::Mined => "mined",
            ChainOutcome::Reverted => "reverted",
            ChainOutcome::Failed => "failed",
            ChainOutcome::Unconfirmed => "unconfirmed",
        }
    }

    pub fn parse(s: &str) -> Option<ChainOutcome> {
        ChainOutcome::ALL.into_iter().find(|o| o.name() == s)
    }

    /// Final: no further record of the intent is expected.
    pub fn is_final(self) -> bool {
        self != ChainOutcome::Pending
    }

    /// The outcome and its reason after an intent's record of `step` with
    /// `reason`, given whether the intent was `signed` before and, for a
    /// `failed` record, the step that failed (its body's first byte).
    pub fn classify(
        step: ChainStep,
        reason: Reason,
        signed: bool,
        failed_step: Option<ChainStep>,
    ) -> (ChainOutcome, Reason) {
        let passed = reason == Reason::Accepted;
        let outcome = match step {
            ChainStep::Account | ChainStep::Simulated | ChainStep::Signed | ChainStep::Mined => ChainOutcome::Pending,
            ChainStep::Intent | ChainStep::Decided if passed => ChainOutcome::Pending,
            ChainStep::Intent => ChainOutcome::Rejected,
            ChainStep::Decided if signed => ChainOutcome::Discarded,
            ChainStep::Decided => ChainOutcome::Refused,
            ChainStep::Settled if reason == Reason::ChainSimulationReverted => ChainOutcome::Reverted,
            ChainStep::Settled => ChainOutcome::Mined,
            // The record's reason is 0 when the node answered with an error
            // rather than not at all; the strategy is told
            // CHAIN_UNAVAILABLE either way, and so is the operator.
            ChainStep::Failed if failed_step == Some(ChainStep::Mined) => {
                return (ChainOutcome::Unconfirmed, Reason::ChainUnavailable);
            }
            ChainStep::Failed => return (ChainOutcome::Failed, Reason::ChainUnavailable),
        };
        (outcome, reason)
    }
}

/// One intent as `GET /api/v1/chain/intents` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ChainIntentRecord {
    pub strategy: String,
    #[serde(skip)]
    pub sid: u32,
    /// The strategy-scoped intent id (`chain_call`'s answer).
    pub intent: u64,
    /// The latest step journalled: `intent`, `simulated`, `decided`,
    /// `signed`, `mined`, `settled` or `failed`.
    pub step: &'static str,
    pub outcome: ChainOutcome,
    /// The latest reason (`ACCEPTED` while it passes); for a final intent
    /// the reason it ended with (see [`ChainOutcome`]).
    pub reason: &'static str,
    pub reason_code: u16,
    /// What was called, for an intent its policy took
    /// (`contract pool selector 0x…`); None for a rejected one (`text` says
    /// why) or one first seen after its `intent` step.
    pub call: Option<String>,
    /// The signed transaction's hash (0x hex) and nonce, once signed.
    pub tx_hash: Option<String>,
    pub nonce: Option<u64>,
    /// For `failed` / `unconfirmed`: the step that failed.
    pub failed_step: Option<&'static str>,
    /// The latest record's text (the refusal's message, the simulation
    /// summary, the receipt, …).
    pub text: String,
    /// Journal sequence numbers and event times of the first and the latest
    /// `CHAIN` record of this intent the control plane saw.
    pub first_seq: u64,
    pub last_seq: u64,
    pub first_ts_ns: u64,
    pub last_ts_ns: u64,
    /// `CHAIN` records of this intent seen.
    pub records: u32,
}

/// Outcome counts by (strategy, outcome, reason name).
pub type ChainCounts = BTreeMap<(String, &'static str, &'static str), u64>;

/// The newest intents (at most `cap`, oldest first by first record seen),
/// how many older ones were dropped, and every final outcome counted.
#[derive(Debug)]
pub struct ChainIntents {
    cap: usize,
    rows: VecDeque<Arc<ChainIntentRecord>>,
    /// (sid, intent id) → its row's position counted from the first row
    /// ever pushed (`pushed - rows.len()` is the front's).
    index: BTreeMap<(u32, u64), u64>,
    pushed: u64,
    dropped: u64,
    counts: Arc<ChainCounts>,
}

impl ChainIntents {
    /// An empty table of at most `cap` (≥ 1) rows.
    pub fn new(cap: usize) -> ChainIntents {
        ChainIntents {
            cap: cap.max(1),
            rows: VecDeque::new(),
            index: BTreeMap::new(),
            pushed: 0,
            dropped: 0,
            counts: Arc::default(),
        }
    }

    /// Rows, oldest first (shared: publishing copies no row).
    pub fn rows(&self) -> impl Iterator<Item = &Arc<ChainIntentRecord>> {
        self.rows.iter()
    }

    /// Rows dropped (oldest first) to stay within the bound.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn counts(&self) -> Arc<ChainCounts> {
        Arc::clone(&self.counts)
    }

    /// Fold one journalled record in (anything but a `CHAIN` record of an
    /// intent is ignored). `strategy` names the record's strategy.
    pub fn apply(&mut self, seq: u64, ts_ns: u64, rec: &Record<'_>, strategy: impl FnOnce(u32) -> String) {
        let Record::Chain { sid, id, step, reason, body, text } = *rec else { return };
        if step == ChainStep::Account {
            return;
        }
        let row = self.row(sid, id, seq, ts_ns, strategy);
        let was = row.outcome;
        // Signed before this record (a `decided` refusal right after `signed`
        // discards a signed transaction).
        let signed = row.tx_hash.is_some() || row.step == ChainStep::Signed.name();
        match step {
            ChainStep::Intent if reason == Reason::Accepted => {
                row.call = Some(String::from_utf8_lossy(text).into_owned());
            }
            ChainStep::Signed if body.len() >= 40 => {
                row.tx_hash = Some(format!("0x{}", hex::encode(&body[..32])));
                let mut n = [0u8; 8];
                n.copy_from_slice(&body[32..40]);
                row.nonce = Some(u64::from_le_bytes(n));
            }
            _ => {}
        }
        let failed = (step == ChainStep::Failed).then(|| body.first().and_then(|c| ChainStep::from_code(*c))).flatten();
        if step == ChainStep::Failed {
            row.failed_step = failed.map(ChainStep::name);
        }
        let (outcome, reason) = ChainOutcome::classify(step, reason, signed, failed);
        row.step = step.name();
        // A final outcome stays (the engine journals nothing after one).
        if !was.is_final() {
            row.outcome = outcome;
            row.reason = reason.name();
            row.reason_code = reason.code();
        }
        row.text = String::from_utf8_lossy(text).into_owned();
        row.last_seq = seq;
        row.last_ts_ns = ts_ns;
        row.records = row.records.saturating_add(1);
        if outcome.is_final() && !was.is_final() {
            let key = (row.strategy.clone(), outcome.name(), reason.name());
            *Arc::make_mut(&mut self.counts).entry(key).or_insert(0) += 1;
        }
    }

    /// The row of (sid, id), made (and the oldest dropped if full) when new.
    fn row(
        &mut self,
        sid: u32,
        id: u64,
        seq: u64,
        ts_ns: u64,
        strategy: impl FnOnce(u32) -> String,
    ) -> &mut ChainIntentRecord {
        let front = self.pushed - self.rows.len() as u64;
        let at = match self.index.get(&(sid, id)) {
            Some(&abs) => (abs - front) as usize,
            None => {
                if self.rows.len() >= self.cap
                    && let Some(old) = self.rows.pop_front()
                {
                    self.index.remove(&(old.sid, old.intent));
                    self.dropped += 1;
                }
                self.index.insert((sid, id), self.pushed);
                self.pushed += 1;
                self.rows.push_back(Arc::new(ChainIntentRecord {
                    strategy: strategy(sid),
                    sid,
                    intent: id,
                    step: ChainStep::Intent.name(),
                    outcome: ChainOutcome::Pending,
                    reason: Reason::Accepted.name(),
                    reason_code: 0,
                    call: None,
                    tx_hash: None,
                    nonce: None,
                    failed_step: None,
                    text: String::new(),
                    first_seq: seq,
                    last_seq: seq,
                    first_ts_ns: ts_ns,
                    last_ts_ns: ts_ns,
                    records: 0,
                }));
                self.rows.len() - 1
            }
        };
        Arc::make_mut(&mut self.rows[at])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ChainStep as S;

    fn chain<'a>(sid: u32, id: u64, step: ChainStep, reason: Reason, body: &'a [u8], text: &'a str) -> Record<'a> {
        Record::Chain { sid, id, step, reason, body, text: text.as_bytes() }
    }

    /// Every way an intent can end, as the engine journals it
    /// (`bulkhead_engine::engine::chain`), and what is not an end.
    #[test]
    fn each_final_record_is_classified_by_its_step_reason_and_history() {
        use ChainOutcome as O;
        let ok = Reason::Accepted;
        let cases = [
            (S::Intent, ok, false, None, O::Pending, ok),
            (S::Intent, Reason::ChainApproval, false, None, O::Rejected, Reason::ChainApproval),
            (S::Intent, Reason::ChainRate, false, None, O::Rejected, Reason::ChainRate),
            (S::Simulated, ok, false, None, O::Pending, ok),
            (S::Decided, ok, false, None, O::Pending, ok),
            (S::Decided, Reason::ChainSimulationReverted, false, None, O::Refused, Reason::ChainSimulationReverted),
            (S::Decided, Reason::ChainPostCondition, false, None, O::Refused, Reason::ChainPostCondition),
            (S::Decided, Reason::ChainHalted, true, None, O::Discarded, Reason::ChainHalted),
            (S::Signed, ok, false, None, O::Pending, ok),
            (S::Mined, ok, true, None, O::Pending, ok),
            (S::Settled, ok, true, None, O::Mined, ok),
            (S::Settled, Reason::ChainDeviation, true, None, O::Mined, Reason::ChainDeviation),
            (S::Settled, Reason::ChainSimulationReverted, true, None, O::Reverted, Reason::ChainSimulationReverted),
            (S::Failed, Reason::ChainUnavailable, false, Some(S::Simulated), O::Failed, Reason::ChainUnavailable),
            (S::Failed, ok, true, Some(S::Signed), O::Failed, Reason::ChainUnavailable),
            (S::Failed, ok, true, Some(S::Mined), O::Unconfirmed, Reason::ChainUnavailable),
            (S::Failed, ok, false, None, O::Failed, Reason::ChainUnavailable),
        ];
        for (step, reason, signed, failed, outcome, why) in cases {
            assert_eq!(
                ChainOutcome::classify(step, reason, signed, failed),
                (outcome, why),
                "{} {} signed={signed}",
                step.name(),
                reason.name()
            );
        }
        for o in ChainOutcome::ALL {
            assert_eq!(ChainOutcome::parse(o.name()), Some(o));
        }
    }

    #[test]
    fn an_intent_is_one_row_through_its_steps_and_counted_once_when_final() {
        let mut t = ChainIntents::new(10);
        let name = |sid: u32| format!("s{sid}");
        let ok = Reason::Accepted;
        let mut signed = [0u8; 40];
        signed[..32].fill(0xab);
        signed[32..].copy_from_slice(&7u64.to_le_bytes());
        t.apply(1, 10, &chain(0, 0, S::Account, ok, &[0; 20], "alice"), name);
        t.apply(2, 10, &chain(0, 1, S::Intent, ok, &[], "contract pool selector 0x38ed1739"), name);
        t.apply(3, 11, &chain(1, 1, S::Intent, Reason::ChainApproval, &[], "CHAIN_APPROVAL: spender"), name);
        for (seq, step, body) in
            [(4, S::Simulated, &[][..]), (5, S::Decided, &[]), (6, S::Signed, &signed), (7, S::Mined, &[])]
        {
            t.apply(seq, 12, &chain(0, 1, step, ok, body, "…"), name);
        }
        assert_eq!(t.rows().count(), 2, "the account record is not an intent");
        let r = t.rows().next().unwrap();
        assert_eq!((r.outcome, r.step, r.records, r.first_seq, r.last_seq), (ChainOutcome::Pending, "mined", 5, 2, 7));
        assert_eq!(r.tx_hash.as_deref(), Some(&*format!("0x{}", "ab".repeat(32))));
        assert_eq!((r.nonce, r.call.as_deref()), (Some(7), Some("contract pool selector 0x38ed1739")));
        t.apply(8, 13, &chain(0, 1, S::Settled, ok, &[], "as simulated"), name);
        t.apply(9, 13, &chain(0, 1, S::Settled, ok, &[], "again"), name);
        let counts = t.counts();
        assert_eq!(counts.get(&("s0".into(), "mined", "ACCEPTED")), Some(&1), "{counts:?}");
        assert_eq!(counts.get(&("s1".into(), "rejected", "CHAIN_APPROVAL")), Some(&1), "{counts:?}");
        assert_eq!(counts.len(), 2);
        // A failure at the `mined` step: sent, no receipt.
        t.apply(10, 14, &chain(0, 2, S::Failed, ok, &[S::Mined.code()], "mined failed: timeout"), name);
        let r = t.rows().last().unwrap();
        assert_eq!(
            (r.outcome, r.reason, r.failed_step),
            (ChainOutcome::Unconfirmed, "CHAIN_UNAVAILABLE", Some("mined"))
        );
        // Halted after signing: discarded, never sent.
        t.apply(11, 15, &chain(0, 3, S::Signed, ok, &signed, "tx"), name);
        t.apply(12, 15, &chain(0, 3, S::Decided, Reason::ChainHalted, &[], "halted after signing"), name);
        let r = t.rows().last().unwrap();
        assert_eq!((r.outcome, r.reason, r.nonce), (ChainOutcome::Discarded, "CHAIN_HALTED", Some(7)));
        assert_eq!(t.counts().get(&("s0".into(), "discarded", "CHAIN_HALTED")), Some(&1));
    }

    #[test]
    fn the_table_is_bounded_oldest_dropped_and_counted_while_counts_stay_whole() {
        let mut t = ChainIntents::new(3);
        for id in 1..=10u64 {
            t.apply(id, id, &chain(0, id, S::Intent, Reason::ChainRate, &[], "rate"), |_| "s".into());
        }
        let ids: Vec<u64> = t.rows().map(|r| r.intent).collect();
        assert_eq!(ids, [8, 9, 10]);
        assert_eq!(t.dropped(), 7);
        assert_eq!(t.counts().get(&("s".into(), "rejected", "CHAIN_RATE")), Some(&10));
        // A later step of a kept intent updates its row in place.
        t.apply(11, 11, &chain(0, 11, S::Intent, Reason::Accepted, &[], "call"), |_| "s".into());
        t.apply(12, 12, &chain(0, 11, S::Simulated, Reason::Accepted, &[], "sim"), |_| "s".into());
        let rows: Vec<(u64, &str, ChainOutcome)> = t.rows().map(|r| (r.intent, r.step, r.outcome)).collect();
        assert_eq!(
            rows,
            [
                (9, "intent", ChainOutcome::Rejected),
                (10, "intent", ChainOutcome::Rejected),
                (11, "simulated", ChainOutcome::Pending)
            ]
        );
        assert_eq!(t.dropped(), 8);
    }
}
