//! Leases on a JetStream key-value bucket: which node runs a shard of
//! strategies (issue 18, failover). A node claims `shard` by writing its
//! name and an expiry into the key; it renews before the expiry; when it
//! dies, the expiry passes and another node takes the key over. Every write
//! is a compare-and-set on the key's revision (JetStream's
//! `Nats-Expected-Last-Subject-Sequence`), so of two nodes that race for a
//! free or expired lease exactly one wins, and the loser learns who holds
//! it. The revision a holder got is its **fencing token**: it only grows,
//! and whoever acts on the lease's behalf (the gateway) can refuse a
//! holder whose token is older than the newest it has seen.
//!
//! **Owns:** the bucket (`BULKHEAD_LEASES`, replicas from the config), the
//! value format (`holder=<node>;expires_ms=<unix ms>`, parsed defensively),
//! acquire / renew / release. **Must never:** decide which strategies a
//! shard holds (the caller names the shard), take over a lease before its
//! expiry, or treat a malformed value as free (it is an error naming the
//! key and the field: a lease nobody can read is not a lease anybody may
//! take).
//!
//! Expiry is wall-clock time (Unix milliseconds) compared across nodes:
//! the TTL must be well above the nodes' clock skew (NTP keeps it to
//! milliseconds; the default TTL is seconds). The caller passes `now_ms`,
//! so tests need not sleep through a TTL and a node can use one clock
//! reading for a whole decision.

use std::time::Duration;

use async_nats::jetstream::{self, kv};

use bytes::Bytes;

use crate::config::{ClusterConfig, check_node_name};
use crate::retry::retry;

/// The key-value bucket holding every lease.
pub const LEASE_BUCKET: &str = "BULKHEAD_LEASES";
/// Longest lease value accepted from the bucket.
const MAX_VALUE_BYTES: usize = 256;

/// What went wrong with a lease.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another node holds the lease and it has not expired.
    #[error("lease {shard} is held by {holder} until {expires_ms} (unix ms), revision {revision}")]
    Held { shard: String, holder: String, expires_ms: u64, revision: u64 },
    /// The lease moved on since this holder last wrote it (it expired and
    /// another node took it, or a racing write won): the holder is fenced.
    #[error("lease {shard}: lost (revision {had} is no longer the latest)")]
    Lost { shard: String, had: u64 },
    /// The key holds something that is not a lease value.
    #[error("lease {shard}: field {field}: {problem}")]
    Malformed { shard: String, field: &'static str, problem: String },
    /// A shard or node name that cannot be a key.
    #[error("lease: field {field}: {problem}")]
    BadName { field: &'static str, problem: String },
    /// NATS did not do what was asked (after retrying through a leader election).
    #[error("lease {shard}: NATS {op}: {reason}")]
    Nats { shard: String, op: &'static str, reason: String },
}

/// A lease this node holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub shard: String,
    pub holder: String,
    /// Unix milliseconds after which another node may take it over.
    pub expires_ms: u64,
    /// The key's revision after this node's last write: the fencing token.
    pub revision: u64,
}

/// The bucket, opened (created if missing) with the config's replicas.
pub struct Leases {
    kv: kv::Store,
    js: jetstream::Context,
    node: String,
    failover: Duration,
}

/// A lease key as read: its holder if it holds a lease value, the key's
/// revision (0: never written) and the bucket stream's last sequence when
/// read (the compare-and-set point of the next write).
struct Read {
    holder: Option<(String, u64)>,
    revision: u64,
    stream_last: u64,
}

/// A failed step of a read: which (for the error) and why (judged transient or not).
struct Failed {
    op: &'static str,
    reason: String,
}

impl Failed {
    fn at<E: std::fmt::Display>(op: &'static str) -> impl FnOnce(E) -> Failed {
        move |e| Failed { op, reason: e.to_string() }
    }
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Attempts of one acquire against writes to other keys of the bucket (each
/// moves the stream's last sequence) before it gives up.
const MAX_ATTEMPTS: u32 = 32;

fn encode(holder: &str, expires_ms: u64) -> Bytes {
    Bytes::from(format!("holder={holder};expires_ms={expires_ms}"))
}

/// Parses a lease value: `holder=<node>;expires_ms=<u64>`, nothing else.
fn decode(shard: &str, value: &[u8]) -> Result<(String, u64), LeaseError> {
    let bad = |field, problem: String| LeaseError::Malformed { shard: shard.to_string(), field, problem };
    if value.len() > MAX_VALUE_BYTES {
        return Err(bad("value", format!("{} bytes, more than {MAX_VALUE_BYTES}", value.len())));
    }
    let text = std::str::from_utf8(value).map_err(|_| bad("value", "not UTF-8".into()))?;
    let (mut holder, mut expires) = (None, None);
    for part in text.split(';') {
        match part.split_once('=') {
            Some(("holder", h)) if holder.is_none() => holder = Some(h),
            Some(("expires_ms", e)) if expires.is_none() => expires = Some(e),
            _ => return Err(bad("value", format!("unexpected part `{}`", part.escape_debug()))),
        }
    }
    let holder = holder.ok_or_else(|| bad("holder", "missing".into()))?;
    check_node_name("holder", holder).map_err(|e| bad("holder", e.problem))?;
    let expires = expires.ok_or_else(|| bad("expires_ms", "missing".into()))?;
    let expires_ms = expires.parse::<u64>().map_err(|_| bad("expires_ms", format!("`{expires}` is not a u64")))?;
    Ok((holder.to_string(), expires_ms))
}

impl Leases {
    /// Opens the lease bucket for `cfg.node` (creates it with `cfg.replicas`).
    pub async fn open(client: &async_nats::Client, cfg: &ClusterConfig) -> Result<Leases, LeaseError> {
        let js = jetstream::new(client.clone());
        let nats = |reason: String| LeaseError::Nats { shard: String::new(), op: "open bucket", reason };
        // The bucket's stream, made here rather than by `create_key_value`
        // (whose account query nats-server 2.9 answers in a shape the
        // client does not parse): the key-value layout (`KV_<bucket>`,
        // `$KV.<bucket>.>`, one value per key, rollups, no deletes of
        // messages) with direct gets OFF, so every read of a lease goes to
        // the stream leader, never to a replica still catching up.
        let config = jetstream::stream::Config {
            name: format!("KV_{LEASE_BUCKET}"),
            subjects: vec![format!("$KV.{LEASE_BUCKET}.>")],
            max_messages_per_subject: 1,
            max_message_size: MAX_VALUE_BYTES as i32,
            storage: jetstream::stream::StorageType::File,
            num_replicas: usize::from(cfg.replicas),
            allow_rollup: true,
            deny_delete: true,
            allow_direct: false,
            discard: jetstream::stream::DiscardPolicy::New,
            ..Default::default()
        };
        let kv = retry(cfg.failover, || async {
            js.get_or_create_stream(config.clone()).await.map_err(|e| e.to_string())?;
            js.get_key_value(LEASE_BUCKET).await.map_err(|e| e.to_string())
        })
        .await
        .map_err(nats)?;
        Ok(Leases { kv, js, node: cfg.node.clone(), failover: cfg.failover })
    }

    /// This node's name (the holder it writes).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The current holder of `shard`, if any: `(holder, expires_ms, revision)`.
    pub async fn holder(&self, shard: &str) -> Result<Option<(String, u64, u64)>, LeaseError> {
        let r = self.read(shard).await?;
        Ok(r.holder.map(|(h, e)| (h, e, r.revision)))
    }

    async fn read(&self, shard: &str) -> Result<Read, LeaseError> {
        check_node_name("shard", shard).map_err(|e| LeaseError::BadName { field: "shard", problem: e.problem })?;
        let nats = |op, reason: String| LeaseError::Nats { shard: shard.into(), op, reason };
        let stream_name = format!("KV_{LEASE_BUCKET}");
        // The stream's last sequence first: a write after it makes the
        // next compare-and-set fail rather than pass on stale state.
        let (stream_last, entry) = retry(self.failover, || async {
            let mut stream = self.js.get_stream(&stream_name).await.map_err(Failed::at("stream info"))?;
            let last = stream.info().await.map_err(Failed::at("stream info"))?.state.last_sequence;
            let entry = self.kv.entry(shard).await.map_err(Failed::at("read"))?;
            Ok::<_, Failed>((last, entry))
        })
        .await
        .map_err(|f| nats(f.op, f.reason))?;
        let revision = entry.as_ref().map_or(0, |e| e.revision);
        let holder = match entry {
            Some(e) if e.operation == kv::Operation::Put => Some(decode(shard, &e.value)?),
            _ => None,
        };
        Ok(Read { holder, revision, stream_last })
    }

    /// Writes this node's claim on `shard` if nothing was written to the
    /// bucket since `r` was read: both the key's revision and the stream's
    /// last sequence are checked by the server. (The stream-wide check is
    /// the one that holds under concurrency on nats-server 2.9: its
    /// per-subject check alone let two racing writers both succeed in
    /// testing.) `Ok(None)`: the check failed, read again.
    async fn write(&self, shard: &str, r: &Read, expires_ms: u64) -> Result<Option<u64>, LeaseError> {
        use async_nats::header::{NATS_EXPECTED_LAST_SEQUENCE, NATS_EXPECTED_LAST_SUBJECT_SEQUENCE};
        use jetstream::context::PublishErrorKind as P;
        let subject = format!("$KV.{LEASE_BUCKET}.{shard}");
        let written = retry(self.failover, || async {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(NATS_EXPECTED_LAST_SEQUENCE, r.stream_last.to_string().as_str());
            headers.insert(NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, r.revision.to_string().as_str());
            self.js.publish_with_headers(subject.clone(), headers, encode(&self.node, expires_ms)).await?.await
        });
        match written.await {
            Ok(ack) => Ok(Some(ack.sequence)),
            Err(e) if e.kind() == P::WrongLastSequence => Ok(None),
            Err(e) => Err(LeaseError::Nats { shard: shard.into(), op: "write", reason: e.to_string() }),
        }
    }

    /// Claims `shard` for `ttl` from `now_ms`: when it is free, expired, or
    /// already this node's. Otherwise [`LeaseError::Held`] names the holder.
    /// Of nodes racing for the same free lease exactly one gets it.
    pub async fn acquire(&self, shard: &str, ttl: Duration, now_ms: u64) -> Result<Lease, LeaseError> {
        let expires_ms = now_ms.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        for _ in 0..MAX_ATTEMPTS {
            let r = self.read(shard).await?;
            if let Some((holder, until)) = &r.holder
                && holder != &self.node
                && *until > now_ms
            {
                return Err(LeaseError::Held {
                    shard: shard.into(),
                    holder: holder.clone(),
                    expires_ms: *until,
                    revision: r.revision,
                });
            }
            if let Some(revision) = self.write(shard, &r, expires_ms).await? {
                return Ok(Lease { shard: shard.into(), holder: self.node.clone(), expires_ms, revision });
            }
        }
        Err(LeaseError::Nats {
            shard: shard.into(),
            op: "write",
            reason: format!("the bucket kept changing: {MAX_ATTEMPTS} attempts"),
        })
    }

    /// Extends a lease this node holds to `now_ms + ttl`. Fails with
    /// [`LeaseError::Lost`] if the key was written since this node's last
    /// write (the lease expired and was taken over): the caller must stop
    /// acting for it.
    pub async fn renew(&self, lease: &Lease, ttl: Duration, now_ms: u64) -> Result<Lease, LeaseError> {
        let expires_ms = now_ms.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        for _ in 0..MAX_ATTEMPTS {
            let r = self.read(&lease.shard).await?;
            if r.revision != lease.revision {
                return Err(LeaseError::Lost { shard: lease.shard.clone(), had: lease.revision });
            }
            if let Some(revision) = self.write(&lease.shard, &r, expires_ms).await? {
                return Ok(Lease { expires_ms, revision, ..lease.clone() });
            }
        }
        Err(LeaseError::Lost { shard: lease.shard.clone(), had: lease.revision })
    }

    /// Gives a lease up at once (expiry 0, so any node may take it); a lease
    /// already lost is not an error.
    pub async fn release(&self, lease: &Lease) -> Result<(), LeaseError> {
        match self.renew(lease, Duration::ZERO, 0).await {
            Ok(_) | Err(LeaseError::Lost { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Unix time in milliseconds (the lease clock).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A shard's lease held by this process (blocking API for a node process):
/// a thread renews it every third of its TTL until dropped, then releases
/// it. If a renewal fails past the expiry (another node took it over), the
/// thread raises `lost` and stops: the caller must stop acting for the shard.
pub struct HeldShard {
    /// The fencing token when taken.
    pub revision: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for HeldShard {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What [`hold_shard`] could not do.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error(transparent)]
    Lease(#[from] LeaseError),
    #[error(transparent)]
    Cluster(#[from] crate::ClusterError),
    #[error("{0}")]
    Io(String),
}

/// Takes the lease of shard `cfg.node` for holder `holder`, waiting at most
/// `ttl` plus the failover time for a holder that stopped renewing (a
/// holder still renewing after that is [`LeaseError::Held`]); `waiting` is
/// called once if it has to wait. Then renews it in a thread (see
/// [`HeldShard`]); `lost` is raised if it is lost.
pub fn hold_shard(
    cfg: &ClusterConfig,
    holder: &str,
    ttl: Duration,
    lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
    waiting: &mut dyn FnMut(&str, u64),
) -> Result<HeldShard, HoldError> {
    use std::sync::atomic::Ordering;
    check_node_name("holder", holder).map_err(|e| LeaseError::BadName { field: "holder", problem: e.problem })?;
    let rt = crate::mirror::runtime()?;
    let shard = cfg.node.clone();
    let me = ClusterConfig { node: holder.to_string(), ..cfg.clone() };
    let (leases, lease) = rt.block_on(async {
        let client = crate::connect(cfg).await?;
        let leases = Leases::open(&client, &me).await?;
        let deadline = std::time::Instant::now() + ttl + cfg.failover;
        let mut told = false;
        loop {
            match leases.acquire(&shard, ttl, now_ms()).await {
                Ok(l) => return Ok::<_, HoldError>((leases, l)),
                Err(LeaseError::Held { holder: h, expires_ms, .. }) if std::time::Instant::now() < deadline => {
                    if !told {
                        waiting(&h, expires_ms);
                        told = true;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    })?;
    let revision = lease.revision;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let thread = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("lease".into())
            .spawn(move || {
                let mut lease = lease;
                let every = ttl / 3;
                let mut last = std::time::Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20).min(every));
                    if last.elapsed() < every {
                        continue;
                    }
                    match rt.block_on(leases.renew(&lease, ttl, now_ms())) {
                        Ok(l) => {
                            lease = l;
                            last = std::time::Instant::now();
                        }
                        Err(e) if now_ms() < lease.expires_ms && !matches!(e, LeaseError::Lost { .. }) => {
                            tracing::warn!(error = %e, "lease renewal failed; retrying before it expires");
                        }
                        Err(e) => {
                            tracing::error!(error = %e, shard = %lease.shard, "lease lost: stop acting for the shard");
                            lost.store(true, Ordering::Relaxed);
                            return;
                        }
                    }
                }
                if let Err(e) = rt.block_on(leases.release(&lease)) {
                    tracing::warn!(error = %e, "releasing the lease");
                }
            })
            .map_err(|e| HoldError::Io(format!("starting the lease thread: {e}")))?
    };
    Ok(HeldShard { revision, stop, thread: Some(thread) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_malformed_ones_name_the_field() {
        assert_eq!(decode("s", &encode("node-1", 42)).unwrap(), ("node-1".to_string(), 42));
        let field = |v: &[u8]| match decode("s", v) {
            Err(LeaseError::Malformed { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(b"holder=a"), "expires_ms");
        assert_eq!(field(b"expires_ms=5"), "holder");
        assert_eq!(field(b"holder=a;expires_ms=x"), "expires_ms");
        assert_eq!(field(b"holder=a b;expires_ms=1"), "holder");
        assert_eq!(field(b"holder=a;expires_ms=1;x=2"), "value");
        assert_eq!(field(b"holder=a;holder=b;expires_ms=1"), "value");
        assert_eq!(field(&[0xff, 0xfe]), "value");
        assert_eq!(field(&[b'a'; 300]), "value");
        assert_eq!(field(b""), "value");
    }
}
