//! R9: option greeks for pre-trade limits.
//!
//! Greeks come from `bulkhead_model::black76` (f64). They are turned into
//! integer money per lot here, once per check, and every sum and comparison
//! after that is integer. Black-76's `exp`/`ln`/`sqrt` come from
//! `bulkhead_model::detmath` (pure-Rust `libm`, not the host's), and every
//! other step here is an IEEE basic operation or an exact conversion, so the
//! same inputs give the same integers on every platform.

use bulkhead_model::{HalfTicks, Instrument, black76};

/// Integer sensitivities of one lot of an instrument, money units (1e-8 quote).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LotGreeks {
    /// Delta-notional: delta × forward × units per lot (linear: the notional).
    pub delta: i128,
    /// Vega per vol point (0.01) per lot.
    pub vega: i128,
    /// Underlying notional per lot: forward × units (for notional per expiry).
    pub underlying: i128,
    /// Delta in units of the underlying per lot, × 1e8 (R14 groups):
    /// delta × units per lot (linear: [`units_e8`]).
    pub delta_units: i128,
}

/// Units of underlying one lot stands for (lot size × multiplier), × 1e8,
/// exact from the decimals (rounded up past 8 decimals: R14 never
/// under-counts).
pub(crate) fn units_e8(inst: &Instrument) -> i128 {
    let m = i128::from(inst.lot_size.mantissa).saturating_mul(i128::from(inst.multiplier.mantissa)).abs();
    let scale = inst.lot_size.scale + inst.multiplier.scale;
    if scale <= 8 {
        m.saturating_mul(10i128.pow(8 - scale))
    } else {
        let d = 10i128.checked_pow(scale - 8).unwrap_or(i128::MAX);
        m / d + i128::from(m % d != 0)
    }
}

/// Why greeks could not be computed.
#[derive(Debug)]
pub(crate) enum GreeksError {
    /// No reference price for this instrument id (the option's underlying).
    NoReference(u32),
    /// No volatility for the option.
    NoVol,
}

#[expect(clippy::cast_possible_truncation, reason = "finite and clamped to ±1e30, well inside i128")]
fn money(x: f64) -> i128 {
    let m = (x * 1e8).round();
    if m.is_finite() { m.clamp(-1e30, 1e30) as i128 } else { 0 }
}

/// Units of underlying per lot (lot size × multiplier).
fn units_per_lot(inst: &Instrument) -> f64 {
    inst.lot_size.to_f64() * inst.multiplier.to_f64()
}

/// Greeks of one lot of `inst` at event time `ts_ns`.
/// `ref2(id)` gives an instrument's reference in half-ticks; `vol_bps` the
/// option's volatility (bps of vol).
pub(crate) fn lot_greeks(
    inst: &Instrument,
    underlying: Option<&Instrument>,
    ref2: impl Fn(u32) -> Option<HalfTicks>,
    vol_bps: Option<i64>,
    ts_ns: u64,
) -> Result<LotGreeks, GreeksError> {
    let u = units_per_lot(inst);
    match (inst.option, inst.expiry) {
        (Some(terms), Some(expiry)) => {
            let und = underlying.ok_or(GreeksError::NoReference(inst.underlying.unwrap_or(inst.id)))?;
            let r2 = ref2(und.id).ok_or(GreeksError::NoReference(und.id))?;
            let f = und.tick_size.to_f64() * r2.get() as f64 / 2.0;
            let k = inst.price_f64(terms.strike);
            let vol = vol_bps.ok_or(GreeksError::NoVol)? as f64 / 10_000.0;
            let t = black76::years_between(ts_ns, expiry);
            let g = black76::greeks(terms.option_type, f, k, t, vol, 0.0);
            Ok(LotGreeks {
                delta: money(g.delta * f * u),
                vega: money(g.vega / 100.0 * u),
                underlying: money(f * u),
                delta_units: money(g.delta * u),
            })
        }
        _ => {
            // Linear (spot, perpetual, future): delta 1 per unit of underlying.
            let r2 = ref2(inst.id).ok_or(GreeksError::NoReference(inst.id))?;
            if inst.inverse {
                // Inverse contracts are valued in base currency; their delta
                // is not comparable with quote-currency limits: left out.
                return Ok(LotGreeks::default());
            }
            let n = (r2.get() * i128::from(inst.tick_lot_value)) / 2;
            Ok(LotGreeks { delta: n, vega: 0, underlying: n, delta_units: units_e8(inst) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulkhead_model::{InstrumentKind, InstrumentSpec, OptionType, link_underlyings};

    const YEAR_NS: u64 = 365 * 86_400 * 1_000_000_000;

    fn universe() -> Vec<Instrument> {
        let perp = InstrumentSpec {
            symbol: "BTC-PERP".into(),
            kind: InstrumentKind::Perpetual,
            tick_size: "0.1".into(),
            lot_size: "0.001".into(),
            multiplier: "1".into(),
            ..Default::default()
        };
        let call = InstrumentSpec {
            symbol: "BTC-C-65000".into(),
            kind: InstrumentKind::Option,
            tick_size: "0.1".into(),
            lot_size: "0.1".into(),
            multiplier: "1".into(),
            expiry: Some(YEAR_NS / 4),
            strike: Some("65000".into()),
            option_type: Some(OptionType::Call),
            underlying: Some("BTC-PERP".into()),
            ..Default::default()
        };
        let mut v = vec![Instrument::from_spec(0, &perp).unwrap(), Instrument::from_spec(1, &call).unwrap()];
        link_underlyings(&mut v).unwrap();
        v
    }

    #[test]
    fn atm_call_matches_textbook_black76() {
        // F = K = 65000, T = 0.25, σ = 50 %, r = 0: d1 = σ√T/2 = 0.125,
        // delta = N(0.125) = 0.549738, vega = F·n(d1)·√T = 65000 × 0.395838 × 0.5 = 12864.7 per 1.00.
        let u = universe();
        let g = lot_greeks(&u[1], Some(&u[0]), |_| Some(HalfTicks::new(1_300_000)), Some(5000), 0).unwrap();
        let delta_per_lot = g.delta as f64 / 1e8; // 0.1 BTC
        assert!((delta_per_lot - 0.549738 * 65000.0 * 0.1).abs() < 0.01, "{delta_per_lot}");
        let vega_per_lot = g.vega as f64 / 1e8; // per vol point, 0.1 BTC
        assert!((vega_per_lot - 12864.7 / 100.0 * 0.1).abs() < 0.01, "{vega_per_lot}");
        assert_eq!(g.underlying, 6_500 * 100_000_000);
        // Perpetual: delta-notional = notional of one lot (0.001 × 65000 = 65).
        let p = lot_greeks(&u[0], None, |_| Some(HalfTicks::new(1_300_000)), None, 0).unwrap();
        assert_eq!((p.delta, p.vega, p.underlying), (6_500_000_000, 0, 6_500_000_000));
    }

    #[test]
    fn missing_inputs_are_reported() {
        let u = universe();
        assert!(matches!(
            lot_greeks(&u[1], Some(&u[0]), |_| Some(HalfTicks::new(1_300_000)), None, 0),
            Err(GreeksError::NoVol)
        ));
        assert!(matches!(lot_greeks(&u[1], Some(&u[0]), |_| None, Some(5000), 0), Err(GreeksError::NoReference(0))));
    }
}
