//! Split runs (issue 18): strategy nodes and a venue gateway.
//!
//! One process runs strategies, risk and the simulated venue together. A
//! split run spreads the same config over processes: each **node** hosts
//! some of the strategies (sandboxes, per-strategy risk R1–R11 and R13, its
//! own journal) and reaches the venue only through a [`VenueLink`]; the
//! **gateway** owns the venue and the controls that need every strategy's
//! view (R5 firm rates, R12 firm aggregates, R7 self-trade prevention), see
//! `bulkhead_risk::RiskPart`. The engine knows no transport:
//! `bulkhead-cluster` carries these records over NATS JetStream.
//!
//! **Lockstep** (what makes a split run equal to one process): before a
//! node's strategies see market event `k + 1` the node hands the gateway
//! every action it decided after its `k`-th event (step `k`; step 0 is what
//! `init` decided) and waits for the gateway's answer to step `k`: the venue's
//! responses to those actions, then its reaction to market event `k + 1`.
//! The gateway applies the steps of all nodes together, the actions sorted by
//! strategy (config order) and, within a strategy, in decision order — the
//! order one process applies them in — so the venue and the firm-wide checks
//! see the same sequence whatever the arrival order, and the fills are the
//! ones of one process.
//!
//! Must never: let a node's action reach the venue except through its link,
//! or let a node cancel another node's strategies' orders.

use bulkhead_abi::{OrderRequest, Reason};
use bulkhead_venue::VenueEvent;

/// An action a node hands the gateway, in decision order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteAction {
    /// A new order that passed the node's checks, under its venue order id.
    Submit { sid: u32, order_id: u64, order: OrderRequest },
    /// Cancel one order (venue order id) for `reason`.
    Cancel { sid: u32, order_id: u64, instrument: u32, reason: Reason },
    /// Cancel a strategy's orders (in one instrument, or all) for `reason`.
    CancelAll { sid: u32, instrument: Option<u32>, reason: Reason },
}

impl RemoteAction {
    /// The strategy the action belongs to (the gateway orders by it).
    pub fn sid(&self) -> u32 {
        match *self {
            RemoteAction::Submit { sid, .. }
            | RemoteAction::Cancel { sid, .. }
            | RemoteAction::CancelAll { sid, .. } => sid,
        }
    }
}

/// A venue response the gateway hands back, at the event time it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteEvent {
    pub ts_ns: u64,
    pub event: VenueEvent,
}

/// The gateway's answer to one step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepAnswer {
    /// Responses to the step's actions (and, for the last step, the
    /// gateway's end of run: orders still open cancelled).
    pub actions: Vec<RemoteEvent>,
    /// The venue's reaction to the next market event (resting orders filled).
    pub market: Vec<RemoteEvent>,
}

/// A node's link to its gateway.
pub trait VenueLink: Send {
    /// Hand over step `step`'s actions (`last`: the node's data has ended)
    /// and wait for the gateway's answer to it.
    fn exchange(&mut self, step: u64, last: bool, actions: &[RemoteAction]) -> Result<StepAnswer, String>;
}

/// The `CONFIG` record a split run journals its part in (`role`, and a
/// node's `hosted` strategies).
pub const SPLIT_FILE: &str = "split";

/// How a process takes part in a run.
pub enum SplitRole {
    /// Everything in one process (the default).
    Whole,
    /// A strategy node hosting the strategies `hosted` names (the others are
    /// the config's too, placed elsewhere: their ids stay the config's).
    Node { link: Box<dyn VenueLink>, hosted: Vec<String> },
    /// The venue gateway: hosts no strategy.
    Gateway,
}

impl SplitRole {
    /// What the journal says about the part (the [`SPLIT_FILE`] record).
    pub fn describe(&self) -> Option<String> {
        match self {
            SplitRole::Whole => None,
            SplitRole::Node { hosted, .. } => Some(format!("role = \"node\"\nhosted = {hosted:?}\n")),
            SplitRole::Gateway => Some("role = \"gateway\"\n".to_string()),
        }
    }

    /// Does this process run strategy `name`?
    pub fn hosts(&self, name: &str) -> bool {
        match self {
            SplitRole::Whole => true,
            SplitRole::Node { hosted, .. } => hosted.iter().any(|h| h == name),
            SplitRole::Gateway => false,
        }
    }
}
