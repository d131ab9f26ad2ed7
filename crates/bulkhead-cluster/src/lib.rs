//! # bulkhead-cluster — NATS JetStream transport of Bulkhead's records
//!
//! **Owns:** the `[cluster]` config ([`ClusterConfig`]), the connection to a NATS
//! server or cluster, and the mirror of a node's journal to a JetStream stream and back
//! ([`push_journal`], [`fetch_journal`]): the wire framing of a batch of records
//! ([`frame`]), the stream and subject names, deduplication by message id, and the checks
//! that a fetched journal is the one that was pushed (contiguous sequence numbers, each
//! batch's last link, the final seal); market data published to a stream and read back
//! as a `MarketSource` ([`feed`]); leases on a key-value bucket for failover ([`lease`]).
//! With the `localcluster` feature, `local` starts a real 3-server JetStream cluster of
//! `nats-server` processes for tests and demos. A running node mirrors its journal live
//! ([`start_replica`]: the engine's release gate waits for JetStream's ack of an order's
//! deciding records).
//!
//! **Must never:** decide risk, order or route anything, or interpret a record's payload
//! beyond its framing (kind, event time and bytes are carried opaquely, exactly as the
//! journal stores them); panic on a malformed message (it is a [`ClusterError`] naming the
//! stream sequence and the field); assume loopback (every address comes from the config).
//!
//! ## Subjects and streams
//!
//! | what | name |
//! |---|---|
//! | journal mirror subject of node `N` | `bulkhead.journal.N` ([`journal_subject`]) |
//! | its stream (file storage, replicas from config) | `BHJ_N` ([`journal_stream`]) |
//! | message id (deduplication) | `N/<first record seq of the batch>` |
//! | market data of feed `F` | `bulkhead.md.F` in stream `MD_F` ([`feed`]) |
//! | leases | key-value bucket `BULKHEAD_LEASES` ([`lease`]) |
//! | node statuses (key = node name) | key-value bucket `BULKHEAD_NODES` ([`status`]) |
//! | the kill switch | `bulkhead.ctl.kill` in stream `BULKHEAD_CTL` ([`ctl`]) |
//!
//! The control plane over the cluster: a running node publishes its
//! [`status::NodeStatus`] and applies kill orders at event boundaries
//! ([`node_ctl::ControlLink`]); the cluster view ([`view`]) reads every status and
//! stream and publishes kill orders.

mod config;
pub mod ctl;
mod error;
pub mod feed;
pub mod frame;
pub mod gateway;
pub mod lease;
#[cfg(feature = "localcluster")]
pub mod local;
mod mirror;
pub mod node_ctl;
mod replica;
mod retry;
pub mod status;
pub mod view;

pub use config::{ClusterConfig, ConfigError, MAX_BUFFER_RECORDS, MAX_TIMEOUT_MS};
pub use error::ClusterError;
pub use mirror::{
    FetchReport, PushReport, connect, fetch_journal, fetch_journal_as_left, fetch_journal_async, journal_stream,
    journal_subject, push_journal, push_journal_async,
};
pub use replica::{LiveReplica, MirrorOutcome, ReplicaHandle, start_replica};
