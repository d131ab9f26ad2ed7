//! The engine's side of journal replication (issue 18): the [`Replicator`]
//! trait a journal mirror implements (`bulkhead-cluster` does, over NATS
//! JetStream), so the engine never depends on a transport.
//!
//! **The rule** (journal-first, across machines): with a replicator, the
//! release gate is on whatever the fsync policy — the actions a market event
//! decided reach the venue only once the local journal is durable *and* the
//! replicator has acknowledged every record up to them
//! ([`Replicator::wait_durable`]). When it cannot say so (the mirror is
//! unreachable, slow past its ack timeout, or behind), the event's new
//! orders are refused with `CLUSTER_UNAVAILABLE` (journalled as venue
//! rejections, heard by the strategy); its cancels are released once the
//! local journal is durable (they only reduce risk; their records follow to
//! the mirror when it is back).
//!
//! **Must never:** block the engine on the transport beyond the
//! replicator's own ack timeout, or release an order whose deciding records
//! are not acknowledged.

/// What a journal mirror says about itself (report, control plane health).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaHealth {
    /// Records offered so far (next journal sequence number offered).
    pub offered: u64,
    /// Records the mirror has acknowledged (every record below this seq).
    pub acked: u64,
    /// `None` while the mirror acknowledges within its timeout; else why not.
    pub unavailable: Option<String>,
    /// Where the mirror is (e.g. the stream name), for messages.
    pub target: String,
}

/// A mirror of the journal: every record the journal writer appends is
/// offered, in order, right after it is appended.
pub trait Replicator: Send {
    /// Record `seq` (appended with `kind`, `ts_ns`, `payload`; `link` is its
    /// link in the local journal). Must not block: a mirror that cannot keep
    /// up buffers (bounded) or falls behind and says so in [`Replicator::wait_durable`].
    fn offer(&mut self, seq: u64, kind: u16, ts_ns: u64, payload: &[u8], link: u64);
    /// Wait until every record below `upto` is acknowledged by the mirror, at
    /// most the mirror's ack timeout; `Err(why)` when it is not.
    fn wait_durable(&mut self, upto: u64) -> Result<(), String>;
    /// The mirror's state now.
    fn health(&self) -> ReplicaHealth;
}

/// The run's cluster figures (report, control plane).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterReport {
    /// The mirror at the end of the run (before the journal was finished).
    pub health: ReplicaHealth,
    /// Orders refused with `CLUSTER_UNAVAILABLE`.
    pub refused: u64,
    /// Market events whose release waited and failed (an outage's events).
    pub failed_waits: u64,
    /// The first reason the mirror gave for not acknowledging, if any.
    pub first_outage: Option<String>,
}
