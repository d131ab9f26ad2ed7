//! Position accounting for one account in one instrument.

use crate::units::saturate_i64;
use crate::{Instrument, Lots, Ticks, fee};

/// A signed position with its entry cost, realised PnL and fees.
///
/// Linear instruments: `entry_cost` is Σ price × signed qty (tick·lots) of
/// the lots still open; closing `c` lots removes `entry_cost × c / qty`
/// (truncated; the remainder stays with the open lots), so PnL is exact up to
/// one tick·lot per close.
///
/// Inverse instruments: `entry_cost` is Σ signed base-money value
/// (`Instrument::notional`, 1e-8 base units, truncated per fill) of the open
/// lots; closing `c` lots realises `removed − value(c at price)` (signed), so a
/// long gains when the price rises: `c·lot·mult·(1/p0 − 1/p1)` in base units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Signed lots: > 0 long, < 0 short.
    pub qty: i64,
    /// Linear: Σ price × signed qty of the open lots, in tick·lots.
    /// Inverse: Σ signed base money value of the open lots.
    pub entry_cost: i128,
    /// Realised PnL in money units (before fees). Includes funding and
    /// settlement/liquidation PnL (see `funding`).
    pub realised: i64,
    /// Fees paid in money units (negative = net rebate).
    pub fees: i64,
    /// Lots traded (both sides).
    pub volume: i64,
    pub fills: u64,
    /// Funding received (+) or paid (−) in money units; already included in `realised`.
    pub funding: i64,
}

impl Position {
    /// Apply a fill of `qty` lots at `price` ticks with fee rate `fee_ppm`.
    /// Returns the fee charged (money units).
    pub fn apply_fill(&mut self, inst: &Instrument, side: crate::Side, price: i64, qty: i64, fee_ppm: i64) -> i64 {
        let f = fee(inst.notional(Ticks::new(price), Lots::new(qty)), fee_ppm).get();
        self.apply_fill_with_fee(inst, side, price, qty, f)
    }

    /// Apply a fill with an explicit fee (money units; e.g. option fees capped
    /// at a fraction of the premium). Returns `fee`.
    pub fn apply_fill_with_fee(&mut self, inst: &Instrument, side: crate::Side, price: i64, qty: i64, fee: i64) -> i64 {
        self.trade(inst, qty * side.sign(), price);
        self.fees = self.fees.saturating_add(fee);
        self.volume = self.volume.saturating_add(qty);
        self.fills += 1;
        fee
    }

    /// Close the whole position at `price` without counting a fill or volume
    /// (expiry settlement). Returns the PnL realised.
    pub fn settle(&mut self, inst: &Instrument, price: i64) -> i64 {
        let before = self.realised;
        if self.qty != 0 {
            self.trade(inst, -self.qty, price);
        }
        self.realised - before
    }

    /// Credit (+) or debit (−) funding: goes to `funding` and `realised`.
    pub fn apply_funding(&mut self, amount: i64) {
        self.funding = self.funding.saturating_add(amount);
        self.realised = self.realised.saturating_add(amount);
    }

    /// Signed value of `signed` lots at `price`, in the unit of `entry_cost`.
    fn value(inst: &Instrument, signed: i64, price: i64) -> i128 {
        if inst.inverse {
            i128::from(inst.notional(Ticks::new(price), Lots::new(signed)).get()) * i128::from(signed.signum())
        } else {
            price as i128 * signed as i128
        }
    }

    fn trade(&mut self, inst: &Instrument, signed: i64, price: i64) {
        let tlv = if inst.inverse { 1 } else { inst.tick_lot_value as i128 };
        // Inverse: a long gains as the price rises while its base value falls.
        let dir: i128 = if inst.inverse { -1 } else { 1 };
        if self.qty == 0 || self.qty.signum() == signed.signum() {
            self.entry_cost += Self::value(inst, signed, price);
            self.qty += signed;
        } else {
            let closing = signed.abs().min(self.qty.abs()) * self.qty.signum(); // sign of position
            let removed = self.entry_cost * closing as i128 / self.qty as i128;
            let pnl = dir * (Self::value(inst, closing, price) - removed) * tlv;
            self.realised = self.realised.saturating_add(saturate_i64(pnl));
            self.entry_cost -= removed;
            self.qty -= closing;
            let opening = signed + closing; // what is left after closing, same sign as the fill
            if opening != 0 {
                debug_assert_eq!(self.qty, 0);
                self.entry_cost = Self::value(inst, opening, price);
                self.qty = opening;
            }
            if self.qty == 0 {
                self.entry_cost = 0;
            }
        }
    }

    /// Unrealised PnL at `mark` ticks, in money units.
    pub fn unrealised(&self, inst: &Instrument, mark: i64) -> i64 {
        let v = if inst.inverse {
            if self.qty == 0 {
                return 0;
            }
            self.entry_cost - Self::value(inst, self.qty, mark)
        } else {
            (mark as i128 * self.qty as i128 - self.entry_cost) * inst.tick_lot_value as i128
        };
        saturate_i64(v)
    }

    /// Average entry price in ticks, rounded toward zero (0 when flat).
    /// Inverse: the harmonic mean `qty × lot × mult / entry value`.
    pub fn avg_price(&self) -> i64 {
        if self.qty == 0 { 0 } else { saturate_i64(self.entry_cost / self.qty as i128) }
    }

    /// Average entry price in ticks for any instrument (inverse-aware).
    pub fn avg_price_of(&self, inst: &Instrument) -> i64 {
        if !inst.inverse {
            return self.avg_price();
        }
        if self.qty == 0 || self.entry_cost == 0 {
            return 0;
        }
        saturate_i64((self.qty as i128).abs() * inst.inverse_num / (self.entry_cost.abs() * inst.inverse_den))
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
                ..Default::default()
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

    fn inverse() -> Instrument {
        // BTCUSD inverse perpetual: tick 0.5 USD, 1 contract = 100 USD.
        Instrument::from_spec(
            1,
            &InstrumentSpec {
                symbol: "BTCUSD".into(),
                kind: InstrumentKind::Perpetual,
                tick_size: "0.5".into(),
                lot_size: "1".into(),
                multiplier: "100".into(),
                inverse: true,
                ..Default::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn inverse_pnl_is_in_base_currency() {
        let i = inverse();
        // 10 contracts × 100 USD at 50000 USD = 0.02 BTC = 2_000_000 sats.
        assert_eq!(i.notional(Ticks::new(100_000), Lots::new(10)), crate::Money::new(2_000_000));
        let mut p = Position::default();
        p.apply_fill(&i, Side::Buy, 100_000, 10, 0); // buy 10 @ 50000
        assert_eq!(p.avg_price_of(&i), 100_000);
        // mark 62500: value 1000/62500 = 0.016 BTC; unrealised 0.004 BTC.
        assert_eq!(p.unrealised(&i, 125_000), 400_000);
        // sell 10 @ 40000: 1000/40000 = 0.025 BTC, loss 0.005 BTC.
        p.apply_fill(&i, Side::Sell, 80_000, 10, 0);
        assert_eq!((p.qty, p.realised), (0, -500_000));
        // short 5 @ 40000, cover @ 50000: 500 × (1/50000 − 1/40000) = −0.0025 BTC.
        p.apply_fill(&i, Side::Sell, 80_000, 5, 0);
        assert_eq!(p.unrealised(&i, 100_000), -250_000);
        p.apply_fill(&i, Side::Buy, 100_000, 5, 0);
        assert_eq!(p.realised, -750_000);
        // taker fee 5 bps of 0.01 BTC
        assert_eq!(p.apply_fill(&i, Side::Buy, 100_000, 5, 500), 500);
    }

    #[test]
    fn settle_and_funding_go_to_realised() {
        let i = inst();
        let mut p = Position::default();
        p.apply_fill(&i, Side::Sell, 100, 3, 0);
        p.apply_funding(-7);
        assert_eq!(p.settle(&i, 90), 30 * crate::MONEY_SCALE);
        assert_eq!((p.qty, p.realised, p.funding, p.fills, p.volume), (0, 30 * crate::MONEY_SCALE - 7, -7, 1, 3));
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
