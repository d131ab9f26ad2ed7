//! What a running node says about itself to the cluster (issue 18, control
//! plane): a [`NodeStatus`] record — node name, role, phase, health (ready,
//! or why not), its strategies with their trading state and order counts,
//! journal records, the mirror's offered / acknowledged records (the lag),
//! market events processed, and when it was written — kept in a JetStream
//! key-value bucket (`BULKHEAD_NODES`, one value per node, history 1).
//!
//! **Owns:** the record, its JSON encoding, its defensive decoding (a value
//! read from the bucket is hostile input: at most [`MAX_STATUS_BYTES`],
//! every field checked, an error names the key and the field; never a
//! panic), and the bucket (made directly as a key-value-layout stream, like
//! the lease bucket: async-nats' `create_key_value` cannot parse nats-server
//! 2.9's account info). **Must never:** decide anything from a status (it
//! is for people and dashboards), or hold more than [`MAX_STRATEGIES`]
//! strategies in one value.

use async_nats::jetstream::{self, stream};
use serde::{Deserialize, Serialize};

use crate::config::{ClusterConfig, check_node_name};
use crate::error::ClusterError;

/// The key-value bucket of node statuses (`KV_BULKHEAD_NODES`, keys = node names).
pub const NODES_BUCKET: &str = "BULKHEAD_NODES";
/// Largest status value accepted (written and read).
pub const MAX_STATUS_BYTES: usize = 64 * 1024;
/// Most strategies one status lists (the rest are counted in `strategies_omitted`).
pub const MAX_STRATEGIES: usize = 256;
/// Most nodes the bucket holds (its `max_bytes` is this many largest values).
pub const MAX_NODES: usize = 256;
/// Longest text field (a reason) kept in a status.
pub const MAX_TEXT: usize = 512;

/// The subject of node `node`'s status value.
pub fn status_subject(node: &str) -> String {
    format!("$KV.{NODES_BUCKET}.{node}")
}

/// One strategy as its node reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyStatus {
    pub name: String,
    /// `active`, `reducing`, `halted` (its own R11 state) or `quarantined`.
    pub state: String,
    /// Orders submitted (decided by risk, accepted or not).
    pub orders: u64,
    /// Orders the venue accepted.
    pub accepted: u64,
    pub fills: u64,
    /// Rejections (risk and venue, every reason).
    pub rejects: u64,
}

/// What a node publishes about itself every ~500 ms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeStatus {
    pub node: String,
    /// `node` (strategies); later roles: `gateway`, `feed`.
    pub role: String,
    /// `running` or `finished`.
    pub phase: String,
    /// True while new orders can be released (the mirror acknowledges).
    pub ready: bool,
    /// Why not ready, e.g. `cluster_unavailable: no JetStream ack within 500 ms …`.
    pub not_ready: Option<String>,
    /// The run-wide R11 state (`active`, `reducing`, `halted`).
    pub global_state: String,
    pub strategies: Vec<StrategyStatus>,
    /// Strategies beyond [`MAX_STRATEGIES`], not listed.
    pub strategies_omitted: u64,
    /// Records in the node's journal.
    pub journal_records: u64,
    /// Records offered to / acknowledged by the journal mirror (lag = offered − acked).
    pub mirror_offered: u64,
    pub mirror_acked: u64,
    /// Market events processed, and the event time of the last one.
    pub events: u64,
    pub event_time_ns: u64,
    /// Statuses this node could not publish (NATS down): dropped, counted.
    pub status_dropped: u64,
    /// Kill orders applied (journalled as operator commands).
    pub kills_applied: u64,
    /// Control messages that were not well-formed: dropped, counted.
    pub ctl_malformed: u64,
    /// The last kill order applied: `<scope> by <actor>: <reason>`.
    pub last_kill: Option<String>,
    /// Wall-clock time of writing (Unix ms): how fresh the status is.
    pub updated_ms: u64,
}

/// A status value that is not a well-formed [`NodeStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node status {key}: field {field}: {problem}")]
pub struct StatusError {
    /// The bucket key (node name) it was read under.
    pub key: String,
    pub field: String,
    pub problem: String,
}

impl NodeStatus {
    /// The value written to the bucket.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses and checks a value read under `key`. Unknown fields, wrong
    /// types, oversized values or texts, a node name that is not the key's:
    /// an error naming the field.
    pub fn decode(key: &str, value: &[u8]) -> Result<NodeStatus, StatusError> {
        let bad = |field: &str, problem: String| StatusError { key: key.into(), field: field.into(), problem };
        if value.len() > MAX_STATUS_BYTES {
            return Err(bad("value", format!("{} bytes, more than {MAX_STATUS_BYTES}", value.len())));
        }
        let mut de = serde_json::Deserializer::from_slice(value);
        let s: NodeStatus = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            bad(if path == "." { "value" } else { &path }, e.inner().to_string())
        })?;
        de.end().map_err(|e| bad("value", e.to_string()))?;
        check_node_name("node", &s.node).map_err(|e| bad("node", e.problem))?;
        if s.node != key {
            return Err(bad("node", format!("`{}` written under key `{key}`", s.node)));
        }
        let word = |field: &str, v: &str, allowed: &[&str]| {
            if allowed.contains(&v) {
                Ok(())
            } else {
                Err(bad(field, format!("`{}` is not one of {allowed:?}", v.escape_debug())))
            }
        };
        word("role", &s.role, &["node", "gateway", "feed"])?;
        word("phase", &s.phase, &["running", "finished"])?;
        word("global_state", &s.global_state, &["active", "reducing", "halted"])?;
        if s.strategies.len() > MAX_STRATEGIES {
            return Err(bad("strategies", format!("{} entries, at most {MAX_STRATEGIES}", s.strategies.len())));
        }
        for (i, st) in s.strategies.iter().enumerate() {
            if st.name.is_empty() || st.name.len() > 64 || st.name.chars().any(char::is_control) {
                return Err(bad(&format!("strategies[{i}].name"), "1..=64 printable characters".into()));
            }
            word(&format!("strategies[{i}].state"), &st.state, &["active", "reducing", "halted", "quarantined"])?;
        }
        for (field, text) in [("not_ready", &s.not_ready), ("last_kill", &s.last_kill)] {
            if text.as_ref().is_some_and(|t| t.len() > MAX_TEXT) {
                return Err(bad(field, format!("longer than {MAX_TEXT} bytes")));
            }
        }
        if s.mirror_acked > s.mirror_offered {
            return Err(bad("mirror_acked", format!("{} above mirror_offered {}", s.mirror_acked, s.mirror_offered)));
        }
        Ok(s)
    }

    /// Records offered to the mirror but not yet acknowledged.
    pub fn mirror_lag(&self) -> u64 {
        self.mirror_offered.saturating_sub(self.mirror_acked)
    }
}

/// Cuts `text` to at most [`MAX_TEXT`] bytes (on a character boundary).
pub fn clip(text: &str) -> String {
    let mut end = text.len().min(MAX_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// Opens (creates if missing) the status bucket's stream: key-value layout,
/// one value per node, values ≤ [`MAX_STATUS_BYTES`], at most [`MAX_NODES`]
/// of them (`discard new`: a full bucket refuses a new node's first value,
/// never drops another node's). Memory storage (replicated like the
/// journals): a status is rewritten every 500 ms and worth nothing after a
/// restart, so it costs the servers no disk writes (with it on file storage
/// the test that kills every server at once lost acknowledged journal
/// records in 2 runs of 4; see ARCHITECTURE.md).
pub async fn ensure_nodes_bucket(js: &jetstream::Context, cfg: &ClusterConfig) -> Result<stream::Stream, ClusterError> {
    let name = format!("KV_{NODES_BUCKET}");
    let config = stream::Config {
        name: name.clone(),
        subjects: vec![format!("$KV.{NODES_BUCKET}.>")],
        max_messages_per_subject: 1,
        max_message_size: i32::try_from(MAX_STATUS_BYTES).unwrap_or(i32::MAX),
        max_bytes: i64::try_from(MAX_NODES * (MAX_STATUS_BYTES + 256)).unwrap_or(i64::MAX),
        storage: stream::StorageType::Memory,
        num_replicas: usize::from(cfg.replicas),
        allow_rollup: true,
        deny_delete: false,
        allow_direct: false,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    };
    crate::mirror::retry_transient(cfg.failover, "create stream", &name, || js.get_or_create_stream(config.clone()))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> NodeStatus {
        NodeStatus {
            node: "n1".into(),
            role: "node".into(),
            phase: "running".into(),
            ready: true,
            not_ready: None,
            global_state: "active".into(),
            strategies: vec![StrategyStatus {
                name: "mm".into(),
                state: "active".into(),
                orders: 5,
                accepted: 4,
                fills: 2,
                rejects: 1,
            }],
            strategies_omitted: 0,
            journal_records: 100,
            mirror_offered: 100,
            mirror_acked: 90,
            events: 50,
            event_time_ns: 7,
            status_dropped: 0,
            kills_applied: 0,
            ctl_malformed: 0,
            last_kill: None,
            updated_ms: 1,
        }
    }

    #[test]
    fn a_status_round_trips_and_a_malformed_one_names_the_field() {
        let s = sample();
        assert_eq!(NodeStatus::decode("n1", &s.encode()).unwrap(), s);
        assert_eq!(s.mirror_lag(), 10);
        let field = |key: &str, v: &[u8]| NodeStatus::decode(key, v).unwrap_err().field;
        let text = String::from_utf8(s.encode()).unwrap();
        assert_eq!(field("n1", text.replace("\"orders\":5", "\"orders\":-5").as_bytes()), "strategies[0].orders");
        assert_eq!(field("n1", text.replace("\"phase\":\"running\"", "\"phase\":\"x\"").as_bytes()), "phase");
        assert_eq!(field("n2", text.as_bytes()), "node");
        assert_eq!(field("n1", text.replace("\"events\"", "\"evil\"").as_bytes()), "evil");
        assert_eq!(
            field("n1", text.replace("\"state\":\"active\"", "\"state\":\"zzz\"").as_bytes()),
            "strategies[0].state"
        );
        assert_eq!(field("n1", text.replace("\"mirror_acked\":90", "\"mirror_acked\":900").as_bytes()), "mirror_acked");
        assert_eq!(field("n1", &[b' '; MAX_STATUS_BYTES + 1]), "value");
        assert_eq!(field("n1", b"{\"node\":"), "node");
        assert_eq!(field("n1", &[0xff, 0x00]), "value");
        assert_eq!(field("n1", format!("{text} x").as_bytes()), "value");
        // Deep nesting: serde_json's recursion limit, an error (never a stack overflow).
        assert!(NodeStatus::decode("n1", "[".repeat(10_000).as_bytes()).is_err());
    }
}
