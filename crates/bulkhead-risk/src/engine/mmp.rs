//! R14 market-maker protection: the sliding windows of a strategy's fills
//! (one per instrument in no group, one per `[mmp_groups.NAME]` group), the
//! freeze a window over its limits trips, and the end of that freeze on
//! event time ([`RiskEngine::on_time`]).
//!
//! Must never: read a clock (the freeze ends on the event time handed in),
//! under-count a window (a full window merges its two oldest entries: the
//! sums stay exact, only the earlier entry's expiry is lost and it expires
//! with the later one), or lift a state R14 did not set (an operator, a
//! fault, R8 or any [`RiskEngine::set_state`] since the trip owns it).

use std::collections::VecDeque;

use bulkhead_abi::Reason;
use bulkhead_model::{Lots, format_money};

use super::{RiskAction, RiskEngine, Scope, TradingState, Transition, sid, to_i64};
use crate::decision::fmt_ms;
use crate::engine::Cause;
use crate::options::{GreeksError, LotGreeks, lot_greeks, units_e8};
use crate::policy::MmpAction;

/// Most entries one R14 window holds (per instrument, per group, per
/// strategy). When a fill would make it longer, the two oldest entries are
/// merged into one carrying both their sums and the later time: the
/// window's sums stay exact and never expire early, so a trip is never missed
/// (the merged fills may count up to one window longer than they should).
pub const MMP_MAX_ENTRIES: usize = 65_536;

/// One fill (or merged fills) in a window: quantity, signed delta and vega in
/// the window's units.
#[derive(Clone, Copy, Debug)]
struct Entry {
    ts: u64,
    fills: u64,
    abs: i128,
    signed: i128,
    vega: i128,
}

/// A sliding window of fills with running sums.
#[derive(Debug, Default)]
pub(super) struct MmpWindow {
    entries: VecDeque<Entry>,
    fills: u64,
    sum_abs: i128,
    sum_signed: i128,
    sum_vega: i128,
}

impl MmpWindow {
    /// Add a fill at `e.ts`, then drop what is `window` ns old or older.
    fn add(&mut self, e: Entry, window: u64) {
        self.entries.push_back(e);
        self.fills = self.fills.saturating_add(e.fills);
        self.sum_abs = self.sum_abs.saturating_add(e.abs);
        self.sum_signed = self.sum_signed.saturating_add(e.signed);
        self.sum_vega = self.sum_vega.saturating_add(e.vega);
        while let Some(&f) = self.entries.front() {
            if e.ts.saturating_sub(f.ts) < window {
                break;
            }
            self.entries.pop_front();
            self.fills = self.fills.saturating_sub(f.fills);
            self.sum_abs = self.sum_abs.saturating_sub(f.abs);
            self.sum_signed = self.sum_signed.saturating_sub(f.signed);
            self.sum_vega = self.sum_vega.saturating_sub(f.vega);
        }
        if self.entries.len() > MMP_MAX_ENTRIES
            && let (Some(a), Some(b)) = (self.entries.pop_front(), self.entries.pop_front())
        {
            self.entries.push_front(Entry {
                ts: b.ts,
                fills: a.fills.saturating_add(b.fills),
                abs: a.abs.saturating_add(b.abs),
                signed: a.signed.saturating_add(b.signed),
                vega: a.vega.saturating_add(b.vega),
            });
        }
    }

    /// Entries held (≤ [`MMP_MAX_ENTRIES`]).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// An R14 freeze in force on one strategy.
#[derive(Clone, Copy, Debug)]
pub(super) struct Freeze {
    /// The state R14 set.
    state: TradingState,
    /// The state before the trip, restored when the freeze ends.
    before: TradingState,
    /// Event time the freeze ends; `None` = until an operator resumes.
    until: Option<u64>,
    /// Event time of the (latest) trip.
    since: u64,
    frozen_ns: u64,
}

/// `a and b and c` of the limits a window exceeds.
fn exceeded(parts: &[Option<String>]) -> String {
    let v: Vec<&str> = parts.iter().flatten().map(String::as_str).collect();
    v.join(" and ")
}

impl RiskEngine {
    /// Event time has reached `ts_ns` (the engine calls it on every market
    /// event; quotes, trades and fills call it too): every R14 freeze with a
    /// frozen time that has ended lifts, back to the state before the trip
    /// (or to what R8's loss limits call for, if stricter), reported as a
    /// [`Transition`] with the R14 cause — but only if the strategy is still
    /// in the state R14 set. Cheap when no freeze is due.
    pub fn on_time(&mut self, ts_ns: u64) {
        self.now = self.now.max(ts_ns);
        if self.now < self.mmp_wake {
            return;
        }
        let now = self.now;
        let mut next = u64::MAX;
        for si in 0..self.strategies.len() {
            let Some(f) = self.strategies[si].freeze else { continue };
            let Some(until) = f.until else { continue };
            if until > now {
                next = next.min(until);
                continue;
            }
            self.strategies[si].freeze = None;
            self.mmp_unfreeze(si, f);
        }
        self.mmp_wake = next;
    }

    fn mmp_unfreeze(&mut self, si: usize, f: Freeze) {
        let cur = self.strategies[si].state;
        if cur != f.state {
            return;
        }
        let loss = self.loss_breach(si).map_or(TradingState::Active, |b| b.0);
        let to = if loss.code() > f.before.code() { loss } else { f.before };
        if to.code() >= cur.code() {
            return;
        }
        self.strategies[si].state = to;
        let text = format!(
            "{}: frozen time {} since the trip at {} ns has ended; strategy {si} back to {}{}",
            Reason::MarketMakerProtection.name(),
            fmt_ms(to_i64(i128::from(f.frozen_ns))),
            f.since,
            to.name(),
            if to == loss && loss != f.before { " (R8 loss limit still exceeded)" } else { "" }
        );
        self.transitions.push(Transition {
            scope: Scope::Strategy(sid(si)),
            from: cur,
            to,
            ts_ns: self.now,
            cause: Cause { reason: Reason::MarketMakerProtection, text },
        });
    }

    /// Greeks of one lot of the option in `slot` for strategy `si` at `ts`.
    fn mmp_greeks(&self, si: usize, slot: usize, ts: u64) -> Result<LotGreeks, GreeksError> {
        let policy = &self.strategies[si].policy;
        let inst = &self.instruments[slot];
        let und = inst.underlying.and_then(|u| self.slot(u)).map(|s| &self.instruments[s]);
        let ref2 = |id: u32| self.slot(id).and_then(|s| self.refs[s].half_ticks(policy.collar_reference));
        lot_greeks(inst, und, ref2, self.vols[slot].or(policy.option_vol_bps), ts)
    }

    /// R14: add a fill to the strategy's window of `slot` (its group's if
    /// it is in one); trip if over.
    pub(super) fn mmp_fill(&mut self, si: usize, slot: usize, ts: u64, signed: Lots) {
        if let Some(g) = self.strategies[si].mmp_group_of[slot] {
            self.mmp_group_fill(si, g, slot, ts, signed);
            return;
        }
        let book = &self.strategies[si];
        let (Some(w), Some(lim)) = (book.policy.mmp_window_ns, book.limits[slot]) else { return };
        if lim.mmp_qty.is_none() && lim.mmp_delta.is_none() && lim.mmp_vega.is_none() {
            return;
        }
        let frozen = book.policy.mmp_frozen_ns;
        let lots = i128::from(signed.get());
        let inst = &self.instruments[slot];
        let vega = match lim.mmp_vega {
            Some(_) if inst.option.is_some() => match self.mmp_greeks(si, slot, ts) {
                Ok(g) => lots.saturating_abs().saturating_mul(g.vega.saturating_abs()),
                Err(_) => {
                    let text = format!(
                        "{}: the vega of a fill of {} {} cannot be evaluated (no implied vol nor `option_vol`, or no reference for its underlying)",
                        Reason::MarketMakerProtection.name(),
                        inst.format_qty(signed.get()),
                        inst.symbol
                    );
                    self.strategies[si].mmp[slot] = MmpWindow::default();
                    self.mmp_trip(si, text, frozen);
                    return;
                }
            },
            _ => 0,
        };
        let m = &mut self.strategies[si].mmp[slot];
        m.add(Entry { ts, fills: 1, abs: lots.saturating_abs(), signed: lots, vega }, w);
        let over_qty = lim.mmp_qty.filter(|q| m.sum_abs > i128::from(q.get()));
        let over_delta = lim.mmp_delta.filter(|d| m.sum_signed.saturating_abs() > i128::from(d.get()));
        let over_vega = lim.mmp_vega.filter(|v| m.sum_vega > i128::from(v.get()));
        if over_qty.is_none() && over_delta.is_none() && over_vega.is_none() {
            return;
        }
        let vega_text =
            if lim.mmp_vega.is_some() { format!(", vega {}", format_money(to_i64(m.sum_vega))) } else { String::new() };
        let text = format!(
            "{}: {} fills of {} {} (net {}{vega_text}) within {} exceed {}",
            Reason::MarketMakerProtection.name(),
            m.fills,
            inst.format_qty(to_i64(m.sum_abs)),
            inst.symbol,
            inst.format_qty(to_i64(m.sum_signed)),
            fmt_ms(to_i64(i128::from(w))),
            exceeded(&[
                over_qty.map(|q| format!("mmp_qty {}", inst.format_qty(q.get()))),
                over_delta.map(|d| format!("mmp_delta {}", inst.format_qty(d.get()))),
                over_vega.map(|v| format!("mmp_vega {}", format_money(v.get()))),
            ])
        );
        *m = MmpWindow::default();
        self.mmp_trip(si, text, frozen);
    }

    /// R14 for an instrument of group `g`: quantity and delta in units of the
    /// underlying (× 1e8), vega in money per vol point.
    fn mmp_group_fill(&mut self, si: usize, g: usize, slot: usize, ts: u64, signed: Lots) {
        let group = &self.strategies[si].policy.mmp_groups[g];
        let (w, frozen) = (group.window_ns, group.frozen_ns);
        let inst = &self.instruments[slot];
        let lots = i128::from(signed.get());
        let units = lots.saturating_mul(units_e8(inst));
        let needs_greeks = inst.option.is_some() && (group.delta.is_some() || group.vega.is_some());
        let (delta, vega) = if needs_greeks {
            match self.mmp_greeks(si, slot, ts) {
                Ok(lg) => (
                    lots.saturating_mul(lg.delta_units),
                    lots.saturating_abs().saturating_mul(lg.vega.saturating_abs()),
                ),
                Err(_) => {
                    let text = format!(
                        "{}: group `{}`: the delta / vega of a fill of {} {} cannot be evaluated (no implied vol nor `option_vol`, or no reference for its underlying)",
                        Reason::MarketMakerProtection.name(),
                        group.name,
                        inst.format_qty(signed.get()),
                        inst.symbol
                    );
                    self.strategies[si].mmp_groups[g] = MmpWindow::default();
                    self.mmp_trip(si, text, frozen);
                    return;
                }
            }
        } else {
            (units, 0)
        };
        let book = &mut self.strategies[si];
        let group = &book.policy.mmp_groups[g];
        let m = &mut book.mmp_groups[g];
        m.add(Entry { ts, fills: 1, abs: units.saturating_abs(), signed: delta, vega }, w);
        let over_qty = group.qty.filter(|q| m.sum_abs > i128::from(*q));
        let over_delta = group.delta.filter(|d| m.sum_signed.saturating_abs() > i128::from(*d));
        let over_vega = group.vega.filter(|v| m.sum_vega > i128::from(v.get()));
        if over_qty.is_none() && over_delta.is_none() && over_vega.is_none() {
            return;
        }
        let text = format!(
            "{}: group `{}`: {} fills of {} (net delta {}, vega {}) within {} exceed {}",
            Reason::MarketMakerProtection.name(),
            group.name,
            m.fills,
            format_money(to_i64(m.sum_abs)),
            format_money(to_i64(m.sum_signed)),
            format_money(to_i64(m.sum_vega)),
            fmt_ms(to_i64(i128::from(w))),
            exceeded(&[
                over_qty.map(|q| format!("qty {}", format_money(q))),
                over_delta.map(|d| format!("delta {}", format_money(d))),
                over_vega.map(|v| format!("vega {}", format_money(v.get()))),
            ])
        );
        *m = MmpWindow::default();
        self.mmp_trip(si, text, frozen);
    }

    /// Freeze strategy `si` (state per `mmp_action`) for `frozen_ns` of event
    /// time (0: until an operator resumes it) and cancel its quotes.
    fn mmp_trip(&mut self, si: usize, mut text: String, frozen_ns: u64) {
        let to = match self.strategies[si].policy.mmp_action {
            MmpAction::Reducing => TradingState::Reducing,
            MmpAction::Halted => TradingState::Halted,
        };
        if frozen_ns > 0 {
            text.push_str(&format!(
                "; strategy {si} frozen for {} of event time and its quotes cancelled",
                fmt_ms(to_i64(i128::from(frozen_ns)))
            ));
        } else {
            text.push_str(&format!("; strategy {si} frozen and its quotes cancelled"));
        }
        let now = self.now;
        let until = (frozen_ns > 0).then(|| now.saturating_add(frozen_ns));
        let before = self.strategies[si].state;
        if self.escalate(si, to, Reason::MarketMakerProtection, text) {
            self.strategies[si].freeze = Some(Freeze { state: to, before, until, since: now, frozen_ns });
        } else if let Some(f) = self.strategies[si].freeze.as_mut()
            && f.state == before
        {
            // Tripped again while frozen: the freeze runs from now.
            f.until = match (f.until, until) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            f.since = now;
            f.frozen_ns = f.frozen_ns.max(frozen_ns);
        }
        if let Some(u) = self.strategies[si].freeze.and_then(|f| f.until) {
            self.mmp_wake = self.mmp_wake.min(u);
        }
        self.actions.push(RiskAction::CancelAll { strategy: sid(si), reason: Reason::MarketMakerProtection });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_window_merges_its_oldest_entries_and_keeps_the_sums() {
        let mut w = MmpWindow::default();
        let n = MMP_MAX_ENTRIES as u64 + 10;
        for i in 0..n {
            let signed = if i % 2 == 0 { 3 } else { -1 };
            w.add(Entry { ts: i, fills: 1, abs: 2, signed, vega: 5 }, u64::MAX);
        }
        assert_eq!(w.len(), MMP_MAX_ENTRIES);
        assert_eq!(w.fills, n);
        assert_eq!(w.sum_abs, 2 * i128::from(n));
        assert_eq!(w.sum_signed, i128::from(n / 2) * 2);
        assert_eq!(w.sum_vega, 5 * i128::from(n));
        // Fills at ts 0..=10 were merged into one entry at ts 10: it expires
        // with the latest of them, never earlier (exact expiry would drop the
        // fills at ts 0..=5 here) ...
        w.add(Entry { ts: 1_005, fills: 1, abs: 0, signed: 0, vega: 0 }, 1_000);
        assert_eq!(w.fills, n + 1);
        // ... (that add merged once more: ts 0..=11 at ts 11) and goes whole
        // once ts 11 is out of the window.
        w.add(Entry { ts: 1_011, fills: 1, abs: 0, signed: 0, vega: 0 }, 1_000);
        assert_eq!(w.fills, n + 2 - 12);
    }
}
