//! The gateway's loop: read every node's steps from `GWO_<gw>` in stream
//! order, apply them step by step through the engine (gateway role), feed
//! the engine the market data, answer every node (see the module above).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bulkhead_data::MarketSource;
use bulkhead_engine::Engine;
use bulkhead_engine::order_owner;
use bulkhead_engine::remote::{RemoteAction, RemoteEvent, StepAnswer};
use futures_util::StreamExt;

use super::wire::{NodeStep, decode_step, encode_answer};
use super::{MAX_PENDING_STEPS, answer_stream, answer_subject, ensure_streams, nats, order_stream, read_from, store};
use crate::config::{ClusterConfig, check_node_name};
use crate::error::ClusterError;
use crate::mirror::runtime;

/// What the gateway does with a node that sent no step within the heartbeat timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDisconnect {
    /// Halt its strategies here, cancel their open orders, go on without it.
    Cancel,
    /// Wait for it (or a standby that took over its lease).
    Wait,
}

#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// The gateway's name (subjects and streams).
    pub name: String,
    /// Every node taking part, by cluster node name.
    pub nodes: Vec<String>,
    /// A node that sent a step and then none for this long is gone.
    pub heartbeat: Duration,
    pub on_disconnect: OnDisconnect,
}

/// What the gateway saw.
#[derive(Clone, Debug, Default)]
pub struct GatewayReport {
    /// Steps applied.
    pub steps: u64,
    /// Node actions applied.
    pub actions: u64,
    /// Steps received again (a restarted node re-deriving) and dropped.
    pub duplicate_steps: u64,
    /// Malformed messages (or from a node not in the run) dropped.
    pub malformed: u64,
    /// Answers not re-published because the stream already held them (restart).
    pub answers_skipped: u64,
    /// Nodes declared gone, with the step they were gone at.
    pub disconnected: Vec<(String, u64)>,
}

struct NodeState {
    name: String,
    /// From its first step on.
    hosted: Option<Vec<u32>>,
    /// Steps received, not applied yet; the first is step `next_applied`.
    pending: VecDeque<NodeStep>,
    /// Last step already answered in the stream (a restarted gateway does not answer it again).
    answered: Option<u64>,
    active: bool,
    done: bool,
}

impl NodeState {
    fn next_expected(&self, step: u64) -> u64 {
        step + self.pending.len() as u64
    }
}

/// Run the gateway over `engine` (built in gateway role from the run's
/// config) and the run's market data, to the end of the run. The caller
/// finishes the engine (its journal) afterwards.
pub fn run_gateway(
    cfg: &ClusterConfig,
    opts: &GatewayOptions,
    engine: &mut Engine,
    source: &mut dyn MarketSource,
) -> Result<GatewayReport, ClusterError> {
    check_node_name("gateway", &opts.name)?;
    for n in &opts.nodes {
        check_node_name("nodes", n)?;
    }
    let rt = runtime()?;
    rt.block_on(serve(cfg, opts, engine, source))
}

async fn serve(
    cfg: &ClusterConfig,
    opts: &GatewayOptions,
    engine: &mut Engine,
    source: &mut dyn MarketSource,
) -> Result<GatewayReport, ClusterError> {
    let client = crate::connect(cfg).await?;
    let js = jetstream::new(client.clone());
    ensure_streams(&js, cfg, &opts.name).await?;
    let mut nodes = Vec::new();
    let answers_name = answer_stream(&opts.name);
    let answers = crate::retry::retry(cfg.failover, || js.get_stream(&answers_name))
        .await
        .map_err(|e| nats("get stream", &answers_name, e))?;
    for n in &opts.nodes {
        let answered = match answers.get_last_raw_message_by_subject(&answer_subject(&opts.name, n)).await {
            Ok(m) if m.payload.len() >= 16 => Some(u64::from_le_bytes(m.payload[8..16].try_into().unwrap_or_default())),
            _ => None,
        };
        nodes.push(NodeState {
            name: n.clone(),
            hosted: None,
            pending: VecDeque::new(),
            answered,
            active: true,
            done: false,
        });
    }
    let subject = format!("bulkhead.gw.{}.ord.*", opts.name);
    let mut steps = read_from(&js, &client, &order_stream(&opts.name), subject, 1, cfg.failover).await?;
    let owner = vec![None; engine.strategy_count()];
    let mut g = Gateway {
        opts,
        engine,
        report: GatewayReport::default(),
        nodes,
        step: 0,
        failover: cfg.failover,
        read_upto: 0,
        probed: Default::default(),
        owner,
    };
    loop {
        g.wait_for_step((&client, &js), &mut steps).await?;
        let all_done = g.apply_step()?;
        let mut answer = StepAnswer { actions: g.engine.take_remote_events(), market: Vec::new() };
        let fin = if all_done {
            g.engine.wind_down().map_err(|e| ClusterError::Gateway(e.to_string()))?;
            answer.actions.extend(g.engine.take_remote_events());
            true
        } else {
            let Some(ev) = source.next_event().map_err(|e| ClusterError::Gateway(format!("market data: {e}")))? else {
                return Err(ClusterError::Gateway(format!(
                    "the market data ended at step {} but the nodes go on (do they run the same data?)",
                    g.step
                )));
            };
            g.engine.on_market(ev).map_err(|e| ClusterError::Gateway(e.to_string()))?;
            answer.market = g.engine.take_remote_events();
            false
        };
        g.answer(&js, &answer, fin).await?;
        g.report.steps += 1;
        g.step += 1;
        for n in &mut g.nodes {
            if n.done {
                n.active = false;
            }
        }
        if fin {
            return Ok(g.report);
        }
    }
}

struct Gateway<'a> {
    opts: &'a GatewayOptions,
    engine: &'a mut Engine,
    report: GatewayReport,
    nodes: Vec<NodeState>,
    /// The step being gathered.
    step: u64,
    failover: Duration,
    /// The last stream sequence the consumer delivered.
    read_upto: u64,
    /// Stream sequences read by a probe ahead of the consumer.
    probed: std::collections::BTreeSet<u64>,
    /// Strategy id → the node hosting it (from each node's first step).
    owner: Vec<Option<usize>>,
}

impl Gateway<'_> {
    fn note(&mut self, text: &str) {
        tracing::warn!(gateway = %self.opts.name, "{text}");
        self.engine.journal_note(text);
    }

    fn ready(&self) -> bool {
        self.nodes.iter().filter(|n| n.active).all(|n| n.pending.front().is_some_and(|s| s.step == self.step))
    }

    /// Gather step `self.step` of every active node, applying the
    /// disconnect policy to nodes that stay silent past the heartbeat.
    async fn wait_for_step(
        &mut self,
        (client, js): (&async_nats::Client, &jetstream::Context),
        steps: &mut async_nats::jetstream::consumer::push::Ordered,
    ) -> Result<(), ClusterError> {
        let mut deadline = Instant::now() + self.opts.heartbeat;
        while !self.ready() {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left.min(super::STALL_PROBE), steps.next()).await {
                Ok(Some(Ok(msg))) => {
                    let seq = msg.info().map_or(0, |i| i.stream_sequence);
                    self.read_upto = self.read_upto.max(seq);
                    // A message a probe already read is not read twice.
                    if !self.probed.remove(&seq) {
                        self.receive(msg.subject.as_str(), &msg.payload)?;
                    }
                    self.probed.retain(|&p| p > seq);
                }
                // The ordered consumer recreates itself after a server or
                // connection loss.
                Ok(Some(Err(e))) => {
                    tracing::warn!(gateway = %self.opts.name, error = %e, "reading steps");
                    tokio::time::sleep(crate::retry::RETRY_PAUSE).await;
                }
                Ok(None) => return Err(ClusterError::Gateway("step stream closed".into())),
                Err(_) if left > super::STALL_PROBE => {
                    if self.probe_last_steps(js).await? {
                        // The stream holds steps the consumer did not
                        // deliver: read on with a new one (probed steps are
                        // not read twice).
                        tracing::warn!(gateway = %self.opts.name, from = self.read_upto + 1, "step consumer silent: recreated");
                        let (stream, subject) =
                            (order_stream(&self.opts.name), format!("bulkhead.gw.{}.ord.*", self.opts.name));
                        if let Ok(c) =
                            super::read_from(js, client, &stream, subject, self.read_upto + 1, self.failover).await
                        {
                            *steps = c;
                        }
                    }
                }
                Err(_) => {
                    self.silent_nodes();
                    deadline = Instant::now() + self.opts.heartbeat;
                }
            }
        }
        Ok(())
    }

    /// Nothing came for a while (the consumer may be recreating itself
    /// after a server died): a node's step, once stored, is the last
    /// message on its subject; read those of the nodes still awaited.
    /// True when one was there that the consumer had not delivered.
    async fn probe_last_steps(&mut self, js: &jetstream::Context) -> Result<bool, ClusterError> {
        let Ok(stream) = js.get_stream(order_stream(&self.opts.name)).await else { return Ok(false) };
        let mut found = false;
        let step = self.step;
        let waiting: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.active && n.pending.front().is_none_or(|s| s.step != step))
            .map(|n| n.name.clone())
            .collect();
        for name in waiting {
            let subject = super::order_subject(&self.opts.name, &name);
            if let Ok(m) = stream.get_last_raw_message_by_subject(&subject).await
                && m.sequence > self.read_upto
                && self.probed.len() < MAX_PENDING_STEPS
                && self.probed.insert(m.sequence)
            {
                found = true;
                self.receive(&subject, &m.payload)?;
            }
        }
        Ok(found)
    }

    /// The heartbeat timeout passed: nodes that started and are silent.
    fn silent_nodes(&mut self) {
        let step = self.step;
        let silent: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| {
                let n = &self.nodes[i];
                n.active && n.hosted.is_some() && n.pending.front().is_none_or(|s| s.step != step)
            })
            .collect();
        for i in silent {
            let name = self.nodes[i].name.clone();
            match self.opts.on_disconnect {
                OnDisconnect::Wait => {
                    tracing::warn!(node = %name, step, "no step within the heartbeat timeout: waiting for it");
                }
                OnDisconnect::Cancel => {
                    let why = format!("node {name} sent no step {step} within {:?}", self.opts.heartbeat);
                    self.note(&format!("{why}: its strategies halted and their orders cancelled"));
                    for sid in self.nodes[i].hosted.clone().unwrap_or_default() {
                        self.engine.gateway_disconnect(sid, &why);
                    }
                    self.nodes[i].active = false;
                    self.report.disconnected.push((name, step));
                }
            }
        }
    }

    /// One message from the step stream: checked, then queued or dropped.
    fn receive(&mut self, subject: &str, payload: &[u8]) -> Result<(), ClusterError> {
        let from = subject.rsplit('.').next().unwrap_or_default().to_string();
        let Some(i) = self.nodes.iter().position(|n| n.name == from) else {
            self.report.malformed += 1;
            self.note(&format!("message on {subject}: node `{from}` is not in this run: dropped"));
            return Ok(());
        };
        let s = match decode_step(payload, self.engine.strategy_count(), self.engine.instrument_count()) {
            Ok(s) => s,
            Err(e) => {
                self.report.malformed += 1;
                self.note(&format!("step on {subject}: {e}: dropped"));
                return Ok(());
            }
        };
        let hosted_clash = s
            .hosted
            .iter()
            .find_map(|&h| self.owner.get(h as usize).copied().flatten().filter(|&k| k != i))
            .map(|k| self.nodes[k].name.clone());
        let n = &self.nodes[i];
        let problem = if s.node != from {
            Some(format!("field node: `{}` on node {from}'s subject", s.node))
        } else if let Some(other) = hosted_clash {
            Some(format!("field hosted: a strategy of node {other}"))
        } else if n.hosted.as_ref().is_some_and(|h| *h != s.hosted) {
            Some("field hosted: differs from the node's first step".to_string())
        } else if !n.active {
            Some("the node was declared gone".to_string())
        } else {
            None
        };
        if let Some(p) = problem {
            self.report.malformed += 1;
            self.note(&format!("step {} of node {from}: {p}: dropped", s.step));
            return Ok(());
        }
        let expected = n.next_expected(self.step);
        if s.step < expected {
            self.report.duplicate_steps += 1;
            return Ok(());
        }
        if s.step > expected || n.pending.len() >= MAX_PENDING_STEPS {
            self.report.malformed += 1;
            self.note(&format!("step {} of node {from}: field step: expected {expected}: dropped", s.step));
            return Ok(());
        }
        if self.nodes[i].hosted.is_none() {
            for &h in &s.hosted {
                if let Some(o) = self.owner.get_mut(h as usize) {
                    *o = Some(i);
                }
            }
            self.nodes[i].hosted = Some(s.hosted.clone());
        }
        let n = &mut self.nodes[i];
        n.pending.push_back(s);
        Ok(())
    }

    /// Apply the gathered step; true when every node still in the run has ended.
    fn apply_step(&mut self) -> Result<bool, ClusterError> {
        let mut actions: Vec<RemoteAction> = Vec::new();
        let mut all_done = true;
        for n in self.nodes.iter_mut().filter(|n| n.active) {
            if let Some(s) = n.pending.pop_front() {
                actions.extend(s.actions);
                n.done |= s.last;
                all_done &= s.last;
            }
        }
        self.report.actions += actions.len() as u64;
        self.engine.gateway_apply(&mut actions).map_err(|e| ClusterError::Gateway(e.to_string()))?;
        Ok(all_done)
    }

    /// Publish each active node's share of `answer` (not again if the
    /// stream already holds it: a restarted gateway).
    async fn answer(&mut self, js: &jetstream::Context, answer: &StepAnswer, fin: bool) -> Result<(), ClusterError> {
        let owner = &self.owner;
        let owner_node = |e: &RemoteEvent| -> Option<usize> {
            let sid = order_owner(order_id_of(&e.event))?;
            owner.get(sid as usize).copied().flatten()
        };
        let mut shares: BTreeMap<usize, StepAnswer> = BTreeMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if n.active {
                shares.insert(i, StepAnswer::default());
            }
        }
        for e in &answer.actions {
            if let Some(share) = owner_node(e).and_then(|i| shares.get_mut(&i)) {
                share.actions.push(*e);
            }
        }
        for e in &answer.market {
            if let Some(share) = owner_node(e).and_then(|i| shares.get_mut(&i)) {
                share.market.push(*e);
            }
        }
        // Published together, then each ack awaited (one that failed is
        // stored again through `store`'s retries).
        let mut sent = Vec::new();
        for (i, share) in shares {
            let n = &self.nodes[i];
            if n.answered.is_some_and(|a| a >= self.step) {
                self.report.answers_skipped += 1;
                continue;
            }
            let id = format!("{}/{}/{}", self.opts.name, n.name, self.step);
            let body = bytes::Bytes::from(encode_answer(self.step, fin, &share));
            let subject = answer_subject(&self.opts.name, &n.name);
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", id.as_str());
            let ack = js.publish_with_headers(subject.clone(), headers, body.clone()).await.ok();
            sent.push((ack, subject, id, body));
        }
        for (ack, subject, id, body) in sent {
            let stored = match ack {
                Some(a) => a.await.is_ok(),
                None => false,
            };
            if !stored {
                store(js, subject, &id, body, self.failover)
                    .await
                    .map_err(|e| nats("publish answer", &answer_stream(&self.opts.name), e))?;
            }
        }
        Ok(())
    }
}

fn order_id_of(e: &bulkhead_venue::VenueEvent) -> u64 {
    use bulkhead_venue::VenueEvent as V;
    match *e {
        V::Accepted { order_id, .. }
        | V::Rejected { order_id, .. }
        | V::Fill { order_id, .. }
        | V::Cancelled { order_id, .. } => order_id,
    }
}
