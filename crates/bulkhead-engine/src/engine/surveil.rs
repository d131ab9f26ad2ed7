//! The engine's side of surveillance (`bulkhead-surveillance`): the rules
//! run on what the engine decides and the venue reports; each alert they
//! raise is journalled (`ALERT`) before its action — a state change and the
//! cancel of the strategy's orders — takes effect, at the point of the event
//! that raised it, so a replay raises and applies the same alerts at the
//! same records.

use super::{Engine, StateChange, Status, push_history};
use crate::records::{self, Record};
use bulkhead_abi::Reason;
use bulkhead_risk::{Scope, TradingState};
use bulkhead_surveillance::{Alert, AlertAction, FirmSurveillance, Rule, Rules, Surveillance};

impl Engine {
    /// Run the firm's surveillance table (defaults for every strategy and
    /// the firm-wide wash-trade rule). Call it before adding strategies, as
    /// `apply_run_settings` does; strategies already added keep their own
    /// rules, now over these defaults.
    pub fn set_surveillance(&mut self, firm: FirmSurveillance) {
        self.surv = Surveillance::new(self.instruments.clone(), firm);
        for (sid, slot) in self.slots.iter().enumerate() {
            self.surv.add_strategy(sid as u32, &slot.surveillance);
        }
    }

    /// The rules strategy `sid` runs (its own over the firm's defaults).
    pub fn surveillance_rules(&self, sid: u32) -> Option<&Rules> {
        self.surv.rules(sid)
    }

    /// Alerts raised so far, by strategy (a wash trade counts for both).
    pub fn alerts(&self, sid: u32) -> u64 {
        self.slots.get(sid as usize).map_or(0, |s| s.alerts)
    }

    /// Whether an operator must re-enable `sid` (RTS 6 Art. 15 throttle):
    /// only an operator's `resume` of the strategy lifts it.
    pub fn is_disabled(&self, sid: u32) -> bool {
        self.slots.get(sid as usize).is_some_and(|s| s.disabled)
    }

    /// Cancel-on-disconnect: a running strategy with open orders that made
    /// no host call for its `max_silence_ms` of event time.
    pub(super) fn check_liveness(&mut self) {
        if !self.surv.watches_liveness() {
            return;
        }
        for sid in 0..self.slots.len() {
            let slot = &self.slots[sid];
            if slot.status != Status::Running {
                continue;
            }
            let (last, open) = (slot.book.last_call_ns, slot.book.open.len());
            if self.surv.on_liveness(self.now, sid as u32, last, open) {
                self.slots[sid].book.last_call_ns = self.now;
            }
        }
        self.apply_alerts();
    }

    /// Journal and carry out the alerts the rules raised.
    pub(super) fn apply_alerts(&mut self) {
        if !self.surv.has_alerts() {
            return;
        }
        let alerts: Vec<Alert> = self.surv.take_alerts().collect();
        for a in &alerts {
            self.apply_alert(a);
        }
    }

    fn apply_alert(&mut self, a: &Alert) {
        let mut orders = std::mem::take(&mut self.alert_buf);
        records::alert_orders_bytes(&a.orders, &mut orders);
        self.journal.record(&Record::Alert {
            rule: a.rule,
            action: a.action,
            sid: a.sid,
            other: a.other.unwrap_or(records::NO_ACCOUNT),
            instrument: a.instrument.unwrap_or(records::NO_ACCOUNT),
            window_ns: a.window_ns,
            observed: a.observed,
            threshold: a.threshold,
            orders: &orders,
            text: a.text.as_bytes(),
        });
        self.alert_buf = orders;
        tracing::warn!(rule = a.rule.name(), action = a.action.name(), sid = a.sid, text = %a.text, "surveillance alert");
        for sid in std::iter::once(a.sid).chain(a.other) {
            if let Some(slot) = self.slots.get_mut(sid as usize) {
                slot.alerts += 1;
            }
        }
        // The action is on the strategy the alert is about (for a wash
        // trade, the one that crossed the firm's resting order).
        self.alert_action(a.sid, a);
    }

    /// An alert's action on one strategy. It only ever tightens: a halted
    /// strategy is not moved to REDUCING.
    fn alert_action(&mut self, sid: u32, a: &Alert) {
        let scope = Scope::Strategy(sid);
        let cause =
            format!("{} ({}): {}: {}", Reason::Surveillance.name(), Reason::Surveillance.code(), a.rule.name(), a.text);
        if a.rule == Rule::CancelOnDisconnect {
            self.cancel_account_gated(sid, None, Reason::CancelledOnDisconnect);
        }
        let to = match a.action {
            AlertAction::Alert => return,
            AlertAction::Reduce => TradingState::Reducing,
            AlertAction::Halt | AlertAction::Disable => TradingState::Halted,
        };
        if a.action == AlertAction::Disable
            && let Some(slot) = self.slots.get_mut(sid as usize)
        {
            slot.disabled = true;
        }
        let now = self.risk.state(scope);
        if now != TradingState::Halted && now != to {
            self.set_state(scope, to, &cause);
            if let Some(slot) = self.slots.get_mut(sid as usize) {
                let state = if a.action == AlertAction::Disable { "disabled" } else { to.name() };
                push_history(&mut slot.history, StateChange { at_ns: self.now, state, reason: cause.clone() });
            }
        }
        self.cancel_account_gated(sid, None, Reason::Surveillance);
    }
}
