//! The venue gateway of a split run (issue 18, the `gateway` role) and a
//! node's link to it, over JetStream.
//!
//! **Owns:** the subjects and streams of the order path, the lockstep
//! protocol (below), the gateway's loop (it drives an engine in gateway
//! role: the venue and the firm-wide controls), its node bookkeeping
//! (hosted strategies, steps seen, heartbeat timeout and the
//! cancel-on-disconnect policy) and a node's [`NodeLink`].
//! **Must never:** decide risk or match orders itself (the engine does),
//! apply a message before [`wire`] accepted it, or let one node act for a
//! strategy another node hosts.
//!
//! ## Order path
//!
//! | what | subject | stream |
//! |---|---|---|
//! | node `N`'s steps to gateway `G` | `bulkhead.gw.G.ord.N` | `GWO_G` (replicas from config) |
//! | G's answers to `N` | `bulkhead.gw.G.exe.N` | `GWE_G` |
//!
//! Message ids `N/<step>` and `G/N/<step>`: JetStream stores a re-sent step
//! or answer once (a restarted node or gateway re-sends what it re-derives).
//!
//! ## Lockstep, and why the result is deterministic
//!
//! Before its strategies see market event `k + 1`, a node publishes step
//! `k` (what it decided after its `k`-th event) and waits for the answer to
//! step `k`. The gateway applies step `k` only once it holds step `k` of
//! every node still in the run; it then applies their actions sorted by
//! strategy id (config order) and, within a strategy, in decision order,
//! then market event `k + 1`, and answers every node. Arrival order — and
//! the JetStream sequence the steps were stored at — therefore never
//! changes what the venue and the firm-wide checks see: the gateway's
//! journal and every answer are a function of the config, the data and the
//! nodes' steps, and equal to the one-process run's sequence (the fills of
//! a split run are the fills of one process). A step is only read from the
//! stream (stored on its replicas) — the journal-first rule across machines.
//!
//! Duplicates: a step below the next one expected of a node (a restarted
//! node re-deriving its journal re-sends them) is dropped and counted, and
//! the engine drops an order id it has seen (`gateway_duplicates`).
//! A node that sends no step within the heartbeat timeout is gone: with
//! `on_disconnect = cancel` its strategies are halted at the gateway and
//! their open orders cancelled (`CANCELLED_ON_DISCONNECT`), and the run goes
//! on without it; with `wait`, the gateway waits for it (or a standby that
//! took its lease) to come back.
//! A malformed message on either subject is counted, journalled (gateway)
//! or logged (node), and dropped; never a panic.

mod serve;
pub mod wire;

pub use serve::{GatewayOptions, GatewayReport, OnDisconnect, run_gateway};

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream};
use bulkhead_engine::remote::{RemoteAction, StepAnswer, VenueLink};
use futures_util::StreamExt;

use crate::config::{ClusterConfig, check_node_name};
use crate::error::ClusterError;
use crate::mirror::runtime;

use wire::{decode_answer, encode_step};

pub fn order_subject(gateway: &str, node: &str) -> String {
    format!("bulkhead.gw.{gateway}.ord.{node}")
}
pub fn answer_subject(gateway: &str, node: &str) -> String {
    format!("bulkhead.gw.{gateway}.exe.{node}")
}
pub fn order_stream(gateway: &str) -> String {
    format!("GWO_{gateway}")
}
pub fn answer_stream(gateway: &str) -> String {
    format!("GWE_{gateway}")
}

/// Most steps of one node the gateway holds before it can apply them (a
/// node in lockstep is at most one ahead; a restarted gateway reading the
/// stream back holds what lies between two nodes' steps).
pub const MAX_PENDING_STEPS: usize = 4096;

fn nats(op: &'static str, stream: &str, e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Nats { op, stream: stream.to_string(), reason: e.to_string() }
}

async fn ensure_streams(js: &jetstream::Context, cfg: &ClusterConfig, gateway: &str) -> Result<(), ClusterError> {
    for (name, subject) in [
        (order_stream(gateway), format!("bulkhead.gw.{gateway}.ord.*")),
        (answer_stream(gateway), format!("bulkhead.gw.{gateway}.exe.*")),
    ] {
        let config = stream::Config {
            name: name.clone(),
            subjects: vec![subject],
            storage: stream::StorageType::File,
            num_replicas: usize::from(cfg.replicas),
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        crate::retry::retry(cfg.failover, || js.get_or_create_stream(config.clone()))
            .await
            .map_err(|e| nats("create stream", &name, e))?;
    }
    Ok(())
}

/// An ordered consumer of `subject` in `stream` from stream sequence `from`
/// on (1: the first message). Used again when a consumer fell silent while the stream holds what
/// it should have delivered (a server died and the client's own
/// recreation did not come back).
async fn read_from(
    js: &jetstream::Context,
    client: &async_nats::Client,
    stream_name: &str,
    subject: String,
    from: u64,
    within: Duration,
) -> Result<consumer::push::Ordered, ClusterError> {
    let s = crate::retry::retry(within, || js.get_stream(stream_name))
        .await
        .map_err(|e| nats("get stream", stream_name, e))?;
    let deliver_policy = if from <= 1 {
        consumer::DeliverPolicy::All
    } else {
        consumer::DeliverPolicy::ByStartSequence { start_sequence: from }
    };
    let config = consumer::push::OrderedConfig {
        deliver_subject: client.new_inbox(),
        filter_subject: subject,
        deliver_policy,
        ..Default::default()
    };
    let c = crate::retry::retry(within, || s.create_consumer(config.clone()))
        .await
        .map_err(|e| nats("create consumer", stream_name, e))?;
    c.messages().await.map_err(|e| nats("consume", stream_name, e))
}

/// Publish `body` under message id `id` and wait until JetStream stored it.
/// A stream just created by another process may not take messages yet: that
/// is retried like a leader election, within `failover` (the message id
/// keeps a message stored twice once).
pub(crate) async fn store(
    js: &jetstream::Context,
    subject: String,
    id: &str,
    body: bytes::Bytes,
    failover: Duration,
) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id);
        let stored = match js.publish_with_headers(subject.clone(), headers, body.clone()).await {
            Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match stored {
            Ok(()) => return Ok(()),
            Err(e) if (crate::retry::transient(&e) || e.contains("no stream")) && start.elapsed() < failover => {
                tokio::time::sleep(crate::retry::RETRY_PAUSE).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A node's link to gateway `gateway` (the engine's [`VenueLink`]).
pub struct NodeLink {
    rt: tokio::runtime::Runtime,
    io: LinkIo,
}

struct LinkIo {
    client: async_nats::Client,
    js: jetstream::Context,
    answers: consumer::push::Ordered,
    gateway: String,
    node: String,
    hosted: Vec<u32>,
    instruments: usize,
    timeout: Duration,
    /// How long a publish is retried through a leader election.
    failover: Duration,
    stats: Arc<Mutex<LinkStats>>,
}

/// How long a reader waits on its ordered consumer before it also reads
/// the last message of the subject directly (a consumer being recreated
/// after a server died delivers nothing for a while).
pub const STALL_PROBE: Duration = Duration::from_secs(1);

/// Most latency samples a node keeps (report only).
pub const MAX_SAMPLES: usize = 1 << 20;

impl NodeLink {
    /// Connect as node `cfg.node` hosting strategies `hosted` (their run
    /// ids) of a run with `instruments` instruments; `timeout`: how long a
    /// step may wait for its answer (the slowest node sets the pace).
    pub fn open(
        cfg: &ClusterConfig,
        gateway: &str,
        hosted: Vec<u32>,
        instruments: usize,
        timeout: Duration,
    ) -> Result<NodeLink, ClusterError> {
        check_node_name("gateway", gateway)?;
        let rt = runtime()?;
        let (client, js, answers) = rt.block_on(async {
            let client = crate::connect(cfg).await?;
            let js = jetstream::new(client.clone());
            ensure_streams(&js, cfg, gateway).await?;
            let (stream, subject) = (answer_stream(gateway), answer_subject(gateway, &cfg.node));
            let answers = read_from(&js, &client, &stream, subject, 1, cfg.failover).await?;
            Ok::<_, ClusterError>((client, js, answers))
        })?;
        let io = LinkIo {
            client,
            js,
            answers,
            gateway: gateway.to_string(),
            node: cfg.node.clone(),
            hosted,
            instruments,
            timeout,
            failover: cfg.failover,
            stats: Arc::default(),
        };
        Ok(NodeLink { rt, io })
    }

    /// The link's figures, shared (the engine owns the link while it runs).
    pub fn stats(&self) -> Arc<Mutex<LinkStats>> {
        self.io.stats.clone()
    }
}

/// A node link's figures.
#[derive(Clone, Debug, Default)]
pub struct LinkStats {
    /// Malformed or foreign answers dropped.
    pub dropped: u64,
    /// Publish-to-answer wall-clock time of each step that carried a new
    /// order, ns (at most [`MAX_SAMPLES`]).
    pub order_rtt_ns: Vec<u64>,
}

impl LinkIo {
    /// The last message on this node's answer subject, if it decodes, and
    /// its stream sequence.
    async fn last_answer(&self) -> Option<(u64, wire::Answer)> {
        let stream = self.js.get_stream(answer_stream(&self.gateway)).await.ok()?;
        let m = stream.get_last_raw_message_by_subject(&answer_subject(&self.gateway, &self.node)).await.ok()?;
        Some((m.sequence, decode_answer(&m.payload, &self.hosted, self.instruments).ok()?))
    }

    async fn publish(&self, step: u64, body: Vec<u8>) -> Result<(), String> {
        let subject = order_subject(&self.gateway, &self.node);
        let id = format!("{}/{step}", self.node);
        store(&self.js, subject, &id, body.into(), self.failover)
            .await
            .map_err(|e| format!("step {step} not stored in {}: {e}", order_stream(&self.gateway)))
    }

    async fn answer(&mut self, step: u64) -> Result<StepAnswer, String> {
        loop {
            let next = tokio::time::timeout(STALL_PROBE, self.answers.next()).await;
            let msg = match next {
                // Nothing for a while: the ordered consumer may be recreating
                // itself after a server died. The answer, once stored, is the
                // last message on this node's subject: read it directly.
                Err(_) => match self.last_answer().await {
                    Some((seq, a)) if a.0 == step => {
                        // The stream has it and the consumer did not deliver
                        // it: read on with a new consumer after it.
                        tracing::warn!(gateway = %self.gateway, seq, "answer consumer silent: recreated");
                        let (stream, subject) =
                            (answer_stream(&self.gateway), answer_subject(&self.gateway, &self.node));
                        if let Ok(c) = read_from(&self.js, &self.client, &stream, subject, seq + 1, self.failover).await
                        {
                            self.answers = c;
                        }
                        return Ok(a.2);
                    }
                    _ => continue,
                },
                Ok(Some(Ok(m))) => m.message.payload,
                // The ordered consumer recreates itself after a server or
                // connection loss; the step's timeout bounds the wait.
                Ok(Some(Err(e))) => {
                    tracing::warn!(gateway = %self.gateway, error = %e, "reading answers");
                    tokio::time::sleep(crate::retry::RETRY_PAUSE).await;
                    continue;
                }
                Ok(None) => return Err("answer stream closed".into()),
            };
            match decode_answer(&msg, &self.hosted, self.instruments) {
                Ok((s, _, a)) if s == step => return Ok(a),
                // Already applied (re-read after a restart).
                Ok((s, _, _)) if s < step => {}
                Ok((s, _, _)) => return Err(format!("answer to step {s} while waiting for step {step}")),
                Err(e) => {
                    if let Ok(mut st) = self.stats.lock() {
                        st.dropped += 1;
                    }
                    tracing::warn!(gateway = %self.gateway, error = %e, "malformed answer dropped");
                }
            }
        }
    }

    async fn exchange(&mut self, step: u64, body: Vec<u8>) -> Result<StepAnswer, String> {
        let timeout = self.timeout;
        let gateway = self.gateway.clone();
        tokio::time::timeout(timeout, async {
            if step == 0 {
                // The streams may be brand new: stored through `store`'s retries.
                self.publish(step, body).await?;
                return self.answer(step).await;
            }
            // The gateway reads the step from the stream, so its answer means
            // it was stored: the ack is awaited alongside, not before. A
            // failed ack (a server died) is stored again under the same id.
            let body = bytes::Bytes::from(body);
            let id = format!("{}/{step}", self.node);
            let subject = order_subject(&self.gateway, &self.node);
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", id.as_str());
            let ack = self.js.publish_with_headers(subject.clone(), headers, body.clone()).await.ok();
            let (js, failover) = (self.js.clone(), self.failover);
            let stored = async move {
                if let Some(ack) = ack
                    && ack.await.is_ok()
                {
                    return Ok(());
                }
                store(&js, subject, &id, body, failover).await
            };
            let stream = order_stream(&self.gateway);
            let not_stored = move |e: String| format!("step {step} not stored in {stream}: {e}");
            let answer = self.answer(step);
            tokio::pin!(stored, answer);
            tokio::select! {
                s = &mut stored => {
                    s.map_err(not_stored)?;
                    answer.await
                }
                got = &mut answer => {
                    stored.await.map_err(not_stored)?;
                    got
                }
            }
        })
        .await
        .map_err(|_| format!("no answer to step {step} from gateway {gateway} within {timeout:?}"))?
    }
}

impl VenueLink for NodeLink {
    fn exchange(&mut self, step: u64, last: bool, actions: &[RemoteAction]) -> Result<StepAnswer, String> {
        let io = &mut self.io;
        let body = encode_step(step, last, &io.node, &io.hosted, actions);
        let t = Instant::now();
        let out = self.rt.block_on(io.exchange(step, body));
        if actions.iter().any(|a| matches!(a, RemoteAction::Submit { .. }))
            && let Ok(mut st) = io.stats.lock()
            && st.order_rtt_ns.len() < MAX_SAMPLES
        {
            st.order_rtt_ns.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
        out
    }
}
