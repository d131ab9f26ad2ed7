//! The engine's side of a split run ([`crate::remote`]): a node's exchange
//! with its gateway once per market event, and the gateway applying the
//! nodes' actions through its firm-wide checks to the venue.

use bulkhead_abi::{OrderRequest, Reason};
use bulkhead_risk::RiskPart;

use super::host::{Action, decide_order};
use super::{Engine, EngineError, Record, global_id, split_id};
use crate::remote::{RemoteAction, RemoteEvent, SplitRole, VenueLink};

/// The split-run state of an engine (empty in one process).
#[derive(Default)]
pub(super) struct Split {
    /// A node: its link to the gateway.
    link: Option<Box<dyn VenueLink>>,
    /// The gateway.
    pub(super) gateway: bool,
    /// Node: the next step to exchange.
    step: u64,
    /// Node: the gateway's reaction to the market event being processed.
    market: Vec<RemoteEvent>,
    /// Gateway: responses routed since the last [`Engine::take_remote_events`].
    pub(super) out: Vec<RemoteEvent>,
    /// Gateway: per strategy, the highest local order id submitted (an order
    /// id at or below it is a duplicate: dropped).
    last_local: Vec<u64>,
    /// Gateway: duplicate submissions dropped.
    duplicates: u64,
    /// The end of run (final exchange or venue flush) happened.
    pub(super) wound_down: bool,
}

impl Split {
    pub(super) fn is_node(&self) -> bool {
        self.link.is_some()
    }
}

/// The strategy owning venue order id `order_id` (`None` for an id no
/// engine issues).
pub fn order_owner(order_id: u64) -> Option<u32> {
    let sid = order_id >> super::ID_BITS;
    (sid >= 1 && sid <= u64::from(u32::MAX)).then(|| (sid - 1) as u32)
}

/// The venue order id of strategy `sid`'s order `local` (its own id).
pub fn venue_order_id(sid: u32, local: u64) -> u64 {
    global_id(sid, local)
}

impl Engine {
    /// Take part in a split run (before any strategy is added: `init` may
    /// place orders). A node's venue becomes the gateway's and its risk
    /// leaves the firm-wide controls to the gateway; the gateway runs only
    /// those.
    pub fn set_split(&mut self, role: SplitRole) {
        match role {
            SplitRole::Whole => {}
            SplitRole::Node { link, .. } => {
                self.venue.set_remote();
                self.risk.set_part(RiskPart::Node);
                self.split.link = Some(link);
            }
            SplitRole::Gateway => {
                self.risk.set_part(RiskPart::Gateway);
                self.split.gateway = true;
            }
        }
    }

    /// Node: hand the gateway what was decided since the last step and
    /// route its answer: the responses at the times they happened now, the
    /// venue's reaction to the coming market event after its `MARKET`.
    pub(super) fn exchange_step(&mut self, last: bool) -> Result<(), EngineError> {
        let actions = self.venue.take_outbox();
        let Some(link) = self.split.link.as_mut() else { return Ok(()) };
        let step = self.split.step;
        let answer = link.exchange(step, last, &actions).map_err(EngineError::Gateway)?;
        self.split.step += 1;
        let now = self.now;
        let mut at = None;
        for ev in answer.actions {
            let ts = ev.ts_ns.max(now);
            if at.is_some_and(|t| t != ts) {
                self.route_venue_events();
            }
            at = Some(ts);
            (self.now, self.journal.ts) = (ts, ts);
            self.venue_out.push(ev.event);
        }
        self.route_venue_events();
        if !last {
            (self.now, self.journal.ts) = (now, now);
        }
        self.split.market = answer.market;
        self.journal.check()?;
        Ok(())
    }

    /// Node: the gateway's reaction to the market event being processed.
    pub(super) fn take_market_answer(&mut self) {
        self.venue_out.extend(self.split.market.drain(..).map(|e| e.event));
    }

    /// Gateway: apply one step's actions of every node. They are applied by
    /// strategy in config order and, within a strategy, in the order given
    /// (its decision order): one strategy's orders are checked together and
    /// reach the venue together, as after one callback in one process.
    pub fn gateway_apply(&mut self, actions: &mut [RemoteAction]) -> Result<(), EngineError> {
        actions.sort_by_key(RemoteAction::sid);
        let mut current = None;
        for a in actions.iter() {
            if current.is_some_and(|s| s != a.sid()) {
                self.process_actions();
            }
            current = Some(a.sid());
            if a.sid() as usize >= self.slots.len() {
                continue;
            }
            match *a {
                RemoteAction::Submit { sid, order_id, order } => self.gateway_submit(sid, order_id, &order),
                RemoteAction::Cancel { sid, order_id, instrument, reason } => {
                    let (_, local) = split_id(order_id);
                    let d = bulkhead_risk::Outcome::from(&Ok::<(), bulkhead_risk::Decision>(()));
                    self.journal.record(&Record::Cancel {
                        sid,
                        id: local,
                        reason: d.reason,
                        instrument: instrument as i32,
                    });
                    self.actions.push(Action::CancelFor(order_id, instrument, reason));
                }
                RemoteAction::CancelAll { sid, instrument, reason } => {
                    self.process_actions();
                    self.cancel_account_gated(sid, instrument, reason);
                }
            }
        }
        self.process_actions();
        self.journal.check()?;
        Ok(())
    }

    /// Gateway: the firm-wide checks of one order a node's checks passed,
    /// journalled as an `ORDER` record; a refusal goes back to the node as
    /// the venue's rejection with the firm control's reason.
    fn gateway_submit(&mut self, sid: u32, order_id: u64, req: &OrderRequest) {
        let (_, local) = split_id(order_id);
        let i = sid as usize;
        if self.split.last_local.len() <= i {
            self.split.last_local.resize(i + 1, 0);
        }
        if local <= self.split.last_local[i] {
            self.split.duplicates += 1;
            tracing::warn!(sid, local, "gateway: duplicate order id dropped");
            return;
        }
        self.split.last_local[i] = local;
        let book = &mut self.slots[i].book;
        book.stats.submitted += 1;
        let at = (self.now, sid, local);
        let (journal, actions) = (&mut self.journal, &mut self.actions);
        let d = decide_order(&mut self.risk, &mut self.stp, journal, actions, &self.venue, &mut book.open, at, req);
        if !d.accepted() {
            *book.stats.rejected.entry(d.reason.code()).or_default() += 1;
            let event = bulkhead_venue::VenueEvent::Rejected {
                order_id: global_id(sid, local),
                account: sid,
                instrument: req.instrument,
                reason: d.reason,
            };
            self.split.out.push(RemoteEvent { ts_ns: self.now, event });
        }
    }

    /// Gateway: the responses routed since the last call, in order.
    pub fn take_remote_events(&mut self) -> Vec<RemoteEvent> {
        std::mem::take(&mut self.split.out)
    }

    /// Journal a note of the run's own (a message dropped, a node gone) as a
    /// `LOG` record of no strategy; at most 1 KiB of `text`.
    pub fn journal_note(&mut self, text: &str) {
        let mut end = text.len().min(1024);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let message = &text.as_bytes()[..end];
        self.journal.record(&Record::Log { sid: crate::records::NO_ACCOUNT, level: 2, message });
    }

    pub fn instrument_count(&self) -> usize {
        self.instruments.len()
    }

    /// Gateway: duplicate order ids dropped so far.
    pub fn gateway_duplicates(&self) -> u64 {
        self.split.duplicates
    }

    /// Gateway: halt strategy `sid` here (its node is gone) and cancel its
    /// open orders at the venue, journalled with `why`.
    pub fn gateway_disconnect(&mut self, sid: u32, why: &str) {
        if sid as usize >= self.slots.len() {
            return;
        }
        self.set_state(
            bulkhead_risk::Scope::Strategy(sid),
            bulkhead_risk::TradingState::Halted,
            &format!("node disconnected: {why}"),
        );
        self.cancel_account_gated(sid, None, Reason::CancelledOnDisconnect);
    }
}
