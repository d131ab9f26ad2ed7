//! The cluster's kill switch on the wire (issue 18, control plane): a
//! [`KillOrder`] (scope `all` or `strategy:NAME`, actor, reason) published
//! to `bulkhead.ctl.kill` in the small stream `BULKHEAD_CTL`, which every
//! node run with `--cluster` reads from where the stream ended when it
//! first connected; a node that loses NATS reads on from where it was when
//! it is back, so it still sees a kill sent meanwhile.
//!
//! **Owns:** the message, its defensive decoding (≤ [`MAX_CTL_BYTES`],
//! every field checked, an error names the stream sequence and the field;
//! never a panic), the stream and publishing. **Must never:** apply an
//! order itself (the node hands it to the engine as an operator command at
//! an event boundary, see [`crate::node_ctl`]).

use async_nats::jetstream::{self, stream};
use serde::{Deserialize, Serialize};

use crate::config::ClusterConfig;
use crate::error::ClusterError;

/// The control stream.
pub const CTL_STREAM: &str = "BULKHEAD_CTL";
/// The kill switch's subject.
pub const KILL_SUBJECT: &str = "bulkhead.ctl.kill";
/// Largest control message accepted.
pub const MAX_CTL_BYTES: usize = 4096;
/// Messages the control stream keeps (oldest dropped beyond).
pub const MAX_CTL_MESSAGES: i64 = 1024;
/// How long the control stream keeps a message.
pub const CTL_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// Longest reason.
pub const MAX_REASON: usize = 256;

/// What a kill order applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KillScope {
    /// Every strategy of every node (the run-wide halt).
    All,
    /// One strategy, by name, on whichever node runs it.
    Strategy(String),
}

impl std::fmt::Display for KillScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KillScope::All => f.write_str("all"),
            KillScope::Strategy(n) => write!(f, "strategy:{n}"),
        }
    }
}

/// A kill order as published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillOrder {
    /// `all` or `strategy:NAME`.
    pub scope: String,
    /// Who sent it (the cluster view's token name).
    pub actor: String,
    pub reason: String,
    /// Wall-clock time it was issued (Unix ms), for people.
    pub issued_ms: u64,
}

/// A control message that is not a well-formed order (or an order refused
/// before publishing): names the stream sequence (0: not published) and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("control message {seq}: field {field}: {problem}")]
pub struct CtlError {
    pub seq: u64,
    pub field: String,
    pub problem: String,
}

fn printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

impl KillOrder {
    /// A checked order (the same checks [`KillOrder::decode`] makes).
    pub fn new(scope: &KillScope, actor: &str, reason: &str, issued_ms: u64) -> Result<KillOrder, CtlError> {
        let order = KillOrder { scope: scope.to_string(), actor: actor.into(), reason: reason.into(), issued_ms };
        order.check(0)?;
        Ok(order)
    }

    fn check(&self, seq: u64) -> Result<KillScope, CtlError> {
        let bad = |field: &str, problem: String| CtlError { seq, field: field.into(), problem };
        let scope = self
            .scope_of()
            .ok_or_else(|| bad("scope", format!("`{}` is not `all` or `strategy:NAME`", self.scope.escape_debug())))?;
        if let KillScope::Strategy(n) = &scope
            && (n.is_empty() || n.len() > 64 || !printable(n) || n.contains(char::is_whitespace))
        {
            return Err(bad("scope", "a strategy name is 1..=64 characters, no spaces".into()));
        }
        if self.actor.is_empty()
            || self.actor.len() > 64
            || !self.actor.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(bad("actor", "1..=64 characters of A-Z a-z 0-9 _ - .".into()));
        }
        if self.reason.trim().is_empty() || self.reason.len() > MAX_REASON || !printable(&self.reason) {
            return Err(bad("reason", format!("1..={MAX_REASON} printable bytes, not blank")));
        }
        Ok(scope)
    }

    fn scope_of(&self) -> Option<KillScope> {
        match self.scope.split_once(':') {
            None if self.scope == "all" => Some(KillScope::All),
            Some(("strategy", name)) => Some(KillScope::Strategy(name.to_string())),
            _ => None,
        }
    }

    /// The bytes published.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses and checks message `seq` of the control stream.
    pub fn decode(seq: u64, bytes: &[u8]) -> Result<(KillOrder, KillScope), CtlError> {
        let bad = |field: &str, problem: String| CtlError { seq, field: field.into(), problem };
        if bytes.len() > MAX_CTL_BYTES {
            return Err(bad("value", format!("{} bytes, more than {MAX_CTL_BYTES}", bytes.len())));
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let order: KillOrder = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            bad(if path == "." { "value" } else { &path }, e.inner().to_string())
        })?;
        de.end().map_err(|e| bad("value", e.to_string()))?;
        let scope = order.check(seq)?;
        Ok((order, scope))
    }
}

/// Opens (creates if missing) the control stream: file storage, the
/// config's replicas, the newest [`MAX_CTL_MESSAGES`] messages of at most
/// [`MAX_CTL_BYTES`] each for [`CTL_MAX_AGE`].
pub async fn ensure_ctl_stream(js: &jetstream::Context, cfg: &ClusterConfig) -> Result<stream::Stream, ClusterError> {
    let config = stream::Config {
        name: CTL_STREAM.into(),
        subjects: vec!["bulkhead.ctl.>".into()],
        max_messages: MAX_CTL_MESSAGES,
        max_message_size: i32::try_from(MAX_CTL_BYTES).unwrap_or(i32::MAX),
        max_age: CTL_MAX_AGE,
        storage: stream::StorageType::File,
        num_replicas: usize::from(cfg.replicas),
        discard: stream::DiscardPolicy::Old,
        ..Default::default()
    };
    crate::mirror::retry_transient(cfg.failover, "create stream", CTL_STREAM, || {
        js.get_or_create_stream(config.clone())
    })
    .await
}

/// Publishes `order` to the kill subject and returns its stream sequence
/// once JetStream acknowledged it.
pub async fn publish_kill(
    js: &jetstream::Context,
    cfg: &ClusterConfig,
    order: &KillOrder,
) -> Result<u64, ClusterError> {
    ensure_ctl_stream(js, cfg).await?;
    publish_raw(js, cfg, bytes::Bytes::from(order.encode())).await
}

/// Publishes any bytes to the kill subject (tests: a malformed message).
pub async fn publish_raw(
    js: &jetstream::Context,
    cfg: &ClusterConfig,
    bytes: bytes::Bytes,
) -> Result<u64, ClusterError> {
    let ack = crate::mirror::retry_transient(cfg.failover, "publish", CTL_STREAM, || async {
        js.publish(KILL_SUBJECT, bytes.clone()).await?.await
    })
    .await?;
    Ok(ack.sequence)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_round_trip_and_malformed_ones_name_the_field() {
        let o = KillOrder::new(&KillScope::Strategy("mm".into()), "alice", "fat finger", 5).unwrap();
        assert_eq!(KillOrder::decode(3, &o.encode()).unwrap(), (o.clone(), KillScope::Strategy("mm".into())));
        let all = KillOrder::new(&KillScope::All, "ops.bot", "limit", 5).unwrap();
        assert_eq!(KillOrder::decode(1, &all.encode()).unwrap().1, KillScope::All);
        let field = |v: &str| KillOrder::decode(9, v.as_bytes()).unwrap_err().field;
        let text = String::from_utf8(o.encode()).unwrap();
        assert_eq!(field(&text.replace("strategy:mm", "everything")), "scope");
        assert_eq!(field(&text.replace("strategy:mm", "strategy:")), "scope");
        assert_eq!(field(&text.replace("alice", "al ice")), "actor");
        assert_eq!(field(&text.replace("fat finger", "")), "reason");
        assert_eq!(field(&text.replace("\"issued_ms\":5", "\"issued_ms\":\"5\"")), "issued_ms");
        assert_eq!(field(&text.replace("\"reason\"", "\"why\"")), "why");
        assert_eq!(field("not json"), "value");
        assert_eq!(field(&"x".repeat(MAX_CTL_BYTES + 1)), "value");
        assert_eq!(KillOrder::decode(9, &[0xff]).unwrap_err().seq, 9);
        assert!(KillOrder::new(&KillScope::All, "a", &"r".repeat(MAX_REASON + 1), 0).is_err());
    }
}
