//! # bulkhead-model — the trading vocabulary shared by risk, venue and engine
//!
//! Owns: instruments and their fixed-point grids (ticks, lots, money units),
//! exact conversion between decimal strings and integers, orders, fills and
//! position accounting (average entry, realised and unrealised PnL, fees).
//!
//! Must never: do I/O, read clocks, or use floating point for anything that
//! decides an order (floats appear only in display helpers).
//!
//! ## Units
//! - price: integer **ticks** of the instrument (`price_decimal = ticks × tick_size`)
//! - quantity: integer **lots** (`qty_decimal = lots × lot_size`)
//! - money (PnL, fees, notional): integer units of 1e-8 of the quote currency
//!   ([`MONEY_SCALE`]). One tick × one lot is worth [`Instrument::tick_lot_value`]
//!   money units, which must be an exact integer (checked at load).

pub use bulkhead_abi::{OrderType, Side, TimeInForce};
use serde::Deserialize;

pub mod decimal;
pub mod position;

pub use decimal::{Decimal, DecimalError};
pub use position::Position;

/// Money is counted in 1e-8 units of the quote currency.
pub const MONEY_DECIMALS: u32 = 8;
pub const MONEY_SCALE: i64 = 100_000_000;

/// What kind of contract an instrument is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstrumentKind {
    Spot,
    Perpetual,
}

/// Instrument definition as written in a config file (decimal strings).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentSpec {
    pub symbol: String,
    pub kind: InstrumentKind,
    /// e.g. "0.1"
    pub tick_size: String,
    /// e.g. "0.001"
    pub lot_size: String,
    /// Contract multiplier (1 for spot and linear perpetuals).
    #[serde(default = "one")]
    pub multiplier: String,
}

fn one() -> String {
    "1".to_string()
}

/// A tradable instrument with its integer grid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instrument {
    pub id: u32,
    pub symbol: String,
    pub kind: InstrumentKind,
    pub tick_size: Decimal,
    pub lot_size: Decimal,
    pub multiplier: Decimal,
    /// Money units (1e-8 quote) of one tick × one lot × multiplier.
    pub tick_lot_value: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InstrumentError {
    #[error("instrument `{symbol}`: field `{field}`: {source}")]
    Decimal { symbol: String, field: &'static str, source: DecimalError },
    #[error("instrument `{symbol}`: field `{field}` must be > 0")]
    NotPositive { symbol: String, field: &'static str },
    #[error(
        "instrument `{symbol}`: tick_size × lot_size × multiplier must be a whole number of 1e-8 quote units"
    )]
    TooFine { symbol: String },
}

impl Instrument {
    pub fn from_spec(id: u32, spec: &InstrumentSpec) -> Result<Instrument, InstrumentError> {
        let parse = |field: &'static str, s: &str| -> Result<Decimal, InstrumentError> {
            let d = Decimal::parse(s)
                .map_err(|source| InstrumentError::Decimal { symbol: spec.symbol.clone(), field, source })?;
            if d.mantissa <= 0 {
                return Err(InstrumentError::NotPositive { symbol: spec.symbol.clone(), field });
            }
            Ok(d)
        };
        let tick_size = parse("tick_size", &spec.tick_size)?;
        let lot_size = parse("lot_size", &spec.lot_size)?;
        let multiplier = parse("multiplier", &spec.multiplier)?;
        let m = (tick_size.mantissa as i128) * (lot_size.mantissa as i128) * (multiplier.mantissa as i128);
        let scale = tick_size.scale + lot_size.scale + multiplier.scale;
        let too_fine = || InstrumentError::TooFine { symbol: spec.symbol.clone() };
        let tick_lot_value = if scale <= MONEY_DECIMALS {
            m.checked_mul(10i128.pow(MONEY_DECIMALS - scale)).ok_or_else(too_fine)?
        } else {
            let div = 10i128.checked_pow(scale - MONEY_DECIMALS).ok_or_else(too_fine)?;
            if m % div != 0 {
                return Err(too_fine());
            }
            m / div
        };
        let tick_lot_value = i64::try_from(tick_lot_value).map_err(|_| too_fine())?;
        Ok(Instrument {
            id,
            symbol: spec.symbol.clone(),
            kind: spec.kind,
            tick_size,
            lot_size,
            multiplier,
            tick_lot_value,
        })
    }

    /// Exact decimal price → ticks.
    pub fn price_to_ticks(&self, s: &str) -> Result<i64, DecimalError> {
        Decimal::parse(s)?.to_units(self.tick_size)
    }
    /// Exact decimal quantity → lots.
    pub fn qty_to_lots(&self, s: &str) -> Result<i64, DecimalError> {
        Decimal::parse(s)?.to_units(self.lot_size)
    }
    pub fn format_price(&self, ticks: i64) -> String {
        Decimal::from_units(ticks, self.tick_size).to_string()
    }
    pub fn format_qty(&self, lots: i64) -> String {
        Decimal::from_units(lots, self.lot_size).to_string()
    }
    /// Money value of `qty` lots at `price` ticks (absolute, saturating).
    pub fn notional(&self, price: i64, qty: i64) -> i64 {
        let v = (price as i128).abs() * (qty as i128).abs() * self.tick_lot_value as i128;
        v.min(i64::MAX as i128) as i64
    }
}

/// Format money units (1e-8 quote) as a decimal string with 2..8 decimals.
pub fn format_money(m: i64) -> String {
    let neg = m < 0;
    let a = (m as i128).abs();
    let int = a / MONEY_SCALE as i128;
    let frac = a % MONEY_SCALE as i128;
    let mut s = format!("{}{}.{:08}", if neg { "-" } else { "" }, int, frac);
    while s.ends_with('0') && s.len() - s.find('.').unwrap() > 3 {
        s.pop();
    }
    s
}

/// Fee in money units for a fill of `notional` money at `rate_ppm` parts per
/// million (negative = rebate). Truncates toward zero.
pub fn fee(notional: i64, rate_ppm: i64) -> i64 {
    ((notional as i128 * rate_ppm as i128) / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn btc() -> Instrument {
        Instrument::from_spec(
            0,
            &InstrumentSpec {
                symbol: "BTC-USDT-PERP".into(),
                kind: InstrumentKind::Perpetual,
                tick_size: "0.1".into(),
                lot_size: "0.001".into(),
                multiplier: "1".into(),
            },
        )
        .unwrap()
    }

    #[test]
    fn tick_lot_value_is_exact() {
        // 0.1 USDT × 0.001 BTC = 0.0001 USDT = 10_000 money units
        assert_eq!(btc().tick_lot_value, 10_000);
    }

    #[test]
    fn price_conversion_is_exact_or_an_error() {
        let i = btc();
        assert_eq!(i.price_to_ticks("65000.3"), Ok(650_003));
        assert_eq!(i.format_price(650_003), "65000.3");
        assert!(matches!(i.price_to_ticks("65000.35"), Err(DecimalError::NotAMultiple { .. })));
        assert_eq!(i.qty_to_lots("1.5"), Ok(1500));
    }

    #[test]
    fn money_formats() {
        assert_eq!(format_money(123_456_789), "1.23456789");
        assert_eq!(format_money(-150_000_000), "-1.50");
        assert_eq!(format_money(0), "0.00");
    }

    #[test]
    fn too_fine_grid_is_refused() {
        let spec = InstrumentSpec {
            symbol: "X".into(),
            kind: InstrumentKind::Spot,
            tick_size: "0.00001".into(),
            lot_size: "0.00001".into(),
            multiplier: "1".into(),
        };
        assert!(matches!(Instrument::from_spec(0, &spec), Err(InstrumentError::TooFine { .. })));
    }
}
