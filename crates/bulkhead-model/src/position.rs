//! Position accounting for one account in one instrument.

use crate::{Instrument, fee};

/// A signed position with its entry cost, realised PnL and fees.
///
/// `entry_cost` is Σ price × signed qty (tick·lots) of the lots still open;
/// closing `c` lots removes `entry_cost × c / qty` (truncated; the remainder
/// stays with the open lots), so PnL is exact up to one tick·lot per close.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Signed lots: > 0 long, < 0 short.
    pub qty: i64,
    /// Σ price × signed qty of the open lots, in tick·lots.
    pub entry_cost: i128,
    /// Realised PnL in money units (before fees).
    pub realised: i64,
    /// Fees paid in money units (negative = net rebate).
    pub fees: i64,
    /// Lots traded (both sides).
    pub volume: i64,
    pub fills: u64,
}

impl Position {
    /// Apply a fill of `qty` lots at `price` ticks with fee rate `fee_ppm`.
    /// Returns the fee charged (money units).
    pub fn apply_fill(&mut self, inst: &Instrument, side: crate::Side, price: i64, qty: i64, fee_ppm: i64) -> i64 {
        let signed = qty * side.sign();
        let tlv = inst.tick_lot_value as i128;
        if self.qty == 0 || self.qty.signum() == signed.signum() {
            self.entry_cost += price as i128 * signed as i128;
            self.qty += signed;
        } else {
            let closing = signed.abs().min(self.qty.abs()) * self.qty.signum(); // sign of position
            let removed = self.entry_cost * closing as i128 / self.qty as i128;
            let pnl = (price as i128 * closing as i128 - removed) * tlv;
            self.realised = self.realised.saturating_add(pnl.clamp(i64::MIN as i128, i64::MAX as i128) as i64);
            self.entry_cost -= removed;
            self.qty -= closing;
            let opening = signed + closing; // what is left after closing, same sign as the fill
            if opening != 0 {
                debug_assert_eq!(self.qty, 0);
                self.entry_cost = price as i128 * opening as i128;
                self.qty = opening;
            }
            if self.qty == 0 {
                self.entry_cost = 0;
            }
        }
        let f = fee(inst.notional(price, qty), fee_ppm);
        self.fees = self.fees.saturating_add(f);
        self.volume = self.volume.saturating_add(qty);
        self.fills += 1;
        f
    }

    /// Unrealised PnL at `mark` ticks, in money units.
    pub fn unrealised(&self, inst: &Instrument, mark: i64) -> i64 {
        let v = (mark as i128 * self.qty as i128 - self.entry_cost) * inst.tick_lot_value as i128;
        v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }

    /// Average entry price in ticks, rounded toward zero (0 when flat).
    pub fn avg_price(&self) -> i64 {
        if self.qty == 0 { 0 } else { (self.entry_cost / self.qty as i128) as i64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InstrumentKind, InstrumentSpec, Side};

    fn inst() -> Instrument {
        Instrument::from_spec(
            0,
            &InstrumentSpec {
                symbol: "T".into(),
                kind: InstrumentKind::Perpetual,
                tick_size: "1".into(),
                lot_size: "1".into(),
                multiplier: "1".into(),
            },
        )
        .unwrap()
    }

    #[test]
    fn long_then_close_with_profit() {
        let i = inst();
        let mut p = Position::default();
        p.apply_fill(&i, Side::Buy, 100, 2, 0);
        p.apply_fill(&i, Side::Buy, 110, 2, 0);
        assert_eq!(p.avg_price(), 105);
        assert_eq!(p.unrealised(&i, 120), 60 * crate::MONEY_SCALE);
        p.apply_fill(&i, Side::Sell, 120, 3, 0);
        assert_eq!(p.qty, 1);
        assert_eq!(p.realised, 45 * crate::MONEY_SCALE);
        // flip through zero: close 1 at 90 (loss 15), open short 1 at 90
        p.apply_fill(&i, Side::Sell, 90, 2, 0);
        assert_eq!(p.qty, -1);
        assert_eq!(p.realised, 30 * crate::MONEY_SCALE);
        assert_eq!(p.avg_price(), 90);
        assert_eq!(p.unrealised(&i, 80), 10 * crate::MONEY_SCALE);
    }

    #[test]
    fn fees_and_rebates() {
        let i = inst();
        let mut p = Position::default();
        assert_eq!(p.apply_fill(&i, Side::Buy, 100, 10, 500), 50_000_000); // 5 bps of 1000
        assert_eq!(p.apply_fill(&i, Side::Sell, 100, 10, -100), -10_000_000);
        assert_eq!(p.fees, 40_000_000);
    }
}
