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
//! - these are types: [`Ticks`], [`Lots`], [`Money`] and [`HalfTicks`] (2 ×
//!   ticks, for exact mids), in [`units`]; the ABI's wire records stay raw
//!   `i64` and are wrapped at the host's boundary.
//!
//! ## Instruments
//! [`InstrumentKind`]: spot, perpetual (linear or inverse), dated future
//! (linear or inverse, `expiry`), European option (`strike`, `option_type`,
//! `expiry`, `underlying`). Options are **linear**: premium and strike are in
//! the quote currency on the option's own tick grid, one lot is `lot_size ×
//! multiplier` units of the underlying; an option's Black-76 forward is the
//! mark of its underlying instrument (converted with
//! [`Instrument::convert_price`]).
//!
//! ## Inverse contracts (unit choice)
//! An inverse perpetual/future (`inverse = true`, e.g. BTCUSD on BitMEX or
//! Deribit) is quoted in quote currency per base (USD/BTC) but each contract
//! is worth `lot_size × multiplier` **quote** units and PnL, fees, funding,
//! margin and collateral are paid in the **base** currency. For an inverse
//! instrument every money amount this crate returns (notional, fee, realised
//! and unrealised PnL) is therefore in 1e-8 units of the **base** currency:
//! `notional(p, q) = |q| × lot × mult / (|p| × tick)`, truncated to 1e-8 base
//! per fill; PnL of closing `c` contracts bought at `p0` and sold at `p1` is
//! `c × lot × mult × (1/p0 − 1/p1)` (see [`Position`]). A venue holding
//! inverse instruments should hold only instruments settled in that currency.
//!
//! ## Floats
//! [`black76`] uses `f64`: greeks and option marks are risk inputs (R9) and
//! venue marks. Matching, fills, fees, funding and settlement never use
//! floats; an option mark computed from Black-76 is rounded to the nearest
//! tick, and a greek to integer money, before use. Every transcendental
//! function on that path comes from [`detmath`] (pure-Rust `libm`), so the
//! rounded integers are the same on every platform; `f64::exp`/`ln`/`powf`/
//! `powi`/`mul_add` are banned by `clippy.toml` and a grep test.

// Guardrail (issue 14): no silently truncating casts in this crate; a cast
// that cannot lose bits says why (`#[expect]`), the rest use `try_from` or
// a named saturating helper.
#![deny(clippy::cast_possible_truncation)]

pub use bulkhead_abi::{OrderType, Side, TimeInForce};
use serde::Deserialize;

pub mod black76;
pub mod decimal;
pub mod detmath;
pub mod position;
pub mod units;

pub use decimal::{Decimal, DecimalError};
pub use position::Position;
pub use units::{HalfTicks, Lots, Money, Ticks};

/// Money is counted in 1e-8 units of the quote currency.
pub const MONEY_DECIMALS: u32 = 8;
pub const MONEY_SCALE: i64 = 100_000_000;

/// What kind of contract an instrument is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstrumentKind {
    #[default]
    Spot,
    /// Perpetual swap (linear, or inverse with `inverse = true`).
    Perpetual,
    /// Dated future: needs `expiry` (linear, or inverse with `inverse = true`).
    Future,
    /// European option on `underlying`: needs `expiry`, `strike`, `option_type`.
    Option,
}

/// Call or put.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OptionType {
    Call,
    Put,
}

/// Default funding interval: 8 hours in ns.
pub const DEFAULT_FUNDING_INTERVAL_NS: u64 = 8 * 3600 * 1_000_000_000;

/// Instrument definition as written in a config file (decimal strings).
///
/// Every field after `multiplier` is optional (serde default), so old configs
/// keep loading. Example (TOML):
/// ```toml
/// [[instruments]]
/// symbol = "BTC-27DEC24-60000-C"
/// kind = "option"
/// tick_size = "0.1"            # premium in quote currency (USD)
/// lot_size = "0.1"
/// underlying = "BTC-27DEC24"   # symbol of the future it settles against
/// expiry = 1735286400000000000 # ns since the epoch
/// strike = "60000"             # quote currency, a multiple of tick_size
/// option_type = "call"
/// initial_margin_bps = 1500
/// maintenance_margin_bps = 1000
/// ```
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct InstrumentSpec {
    pub symbol: String,
    pub kind: InstrumentKind,
    /// e.g. "0.1"
    pub tick_size: String,
    /// e.g. "0.001"
    pub lot_size: String,
    /// Contract multiplier (1 for spot and linear perpetuals; quote currency
    /// per contract for inverse contracts, e.g. "100" for 100 USD contracts).
    #[serde(default = "one")]
    pub multiplier: String,
    /// Inverse contract (perpetual or future): quoted in quote currency per
    /// base, margined and settled in the base currency. See crate docs.
    #[serde(default)]
    pub inverse: bool,
    /// Expiry in ns since the epoch (futures and options).
    #[serde(default)]
    pub expiry: Option<u64>,
    /// Option strike as a decimal price on this instrument's tick grid.
    #[serde(default)]
    pub strike: Option<String>,
    #[serde(default)]
    pub option_type: Option<OptionType>,
    /// Symbol of the underlying (options: required; the future or perpetual
    /// whose mark is the Black-76 forward). Resolved by [`link_underlyings`].
    #[serde(default)]
    pub underlying: Option<String>,
    /// Smallest order notional as a decimal in the money currency ("0" = none).
    #[serde(default)]
    pub min_notional: Option<String>,
    /// Initial margin in basis points of mark notional (0 = none).
    #[serde(default)]
    pub initial_margin_bps: u32,
    /// Maintenance margin in basis points of mark notional (0 = none).
    #[serde(default)]
    pub maintenance_margin_bps: u32,
    /// Funding interval in ns (perpetuals; default 8h). Funding happens at
    /// every whole multiple of the interval since the epoch.
    #[serde(default)]
    pub funding_interval_ns: Option<u64>,
    /// Funding rate per interval as a decimal (e.g. "0.0001" = 1 bp); may be
    /// replaced at run time from data. Positive: longs pay shorts.
    #[serde(default)]
    pub funding_rate: Option<String>,
}

fn one() -> String {
    "1".to_string()
}

/// Option terms of an instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionTerms {
    pub option_type: OptionType,
    /// Strike in this instrument's ticks.
    pub strike: i64,
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
    /// Inverse contract: all money amounts are in 1e-8 units of the base currency.
    pub inverse: bool,
    /// Inverse contracts: base money value of `q` lots at `p` ticks is
    /// `q × inverse_num / (p × inverse_den)` (truncated). 0 for linear ones.
    pub inverse_num: i128,
    pub inverse_den: i128,
    /// Expiry, ns since the epoch (futures and options).
    pub expiry: Option<u64>,
    pub option: Option<OptionTerms>,
    /// Underlying symbol as configured.
    pub underlying_symbol: Option<String>,
    /// Underlying instrument id, set by [`link_underlyings`].
    pub underlying: Option<u32>,
    /// Minimum order notional (0 = none).
    pub min_notional: Money,
    pub initial_margin_bps: u32,
    pub maintenance_margin_bps: u32,
    /// Funding interval in ns (perpetuals only, else 0).
    pub funding_interval_ns: u64,
    /// Configured funding rate per interval (perpetuals).
    pub funding_rate: Decimal,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InstrumentError {
    #[error("instrument `{symbol}`: field `{field}`: {source}")]
    Decimal { symbol: String, field: &'static str, source: DecimalError },
    #[error("instrument `{symbol}`: field `{field}` must be > 0")]
    NotPositive { symbol: String, field: &'static str },
    #[error("instrument `{symbol}`: tick_size × lot_size × multiplier must be a whole number of 1e-8 quote units")]
    TooFine { symbol: String },
    #[error("instrument `{symbol}`: field `{field}` is required for this kind")]
    Missing { symbol: String, field: &'static str },
    #[error("instrument `{symbol}`: field `{field}` does not apply to this kind")]
    NotApplicable { symbol: String, field: &'static str },
    #[error("instrument `{symbol}`: underlying `{underlying}` is not a known instrument")]
    UnknownUnderlying { symbol: String, underlying: String },
}

impl Instrument {
    #[expect(clippy::too_many_lines, reason = "over the ceiling when it was set (issue 14): split when next changed")]
    pub fn from_spec(id: u32, spec: &InstrumentSpec) -> Result<Instrument, InstrumentError> {
        let sym = || spec.symbol.clone();
        let dec = |field: &'static str, s: &str| -> Result<Decimal, InstrumentError> {
            Decimal::parse(s).map_err(|source| InstrumentError::Decimal { symbol: sym(), field, source })
        };
        let parse = |field: &'static str, s: &str| -> Result<Decimal, InstrumentError> {
            let d = dec(field, s)?;
            if d.mantissa <= 0 {
                return Err(InstrumentError::NotPositive { symbol: sym(), field });
            }
            Ok(d)
        };
        let missing = |field| InstrumentError::Missing { symbol: sym(), field };
        let not_app = |field| InstrumentError::NotApplicable { symbol: sym(), field };
        let tick_size = parse("tick_size", &spec.tick_size)?;
        let lot_size = parse("lot_size", &spec.lot_size)?;
        let multiplier = parse("multiplier", &spec.multiplier)?;
        let m = (tick_size.mantissa as i128) * (lot_size.mantissa as i128) * (multiplier.mantissa as i128);
        let scale = tick_size.scale + lot_size.scale + multiplier.scale;
        let too_fine = || InstrumentError::TooFine { symbol: sym() };
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
        let kind = spec.kind;
        // Kind-specific terms.
        if spec.inverse && !matches!(kind, InstrumentKind::Perpetual | InstrumentKind::Future) {
            return Err(not_app("inverse"));
        }
        let expiry = match kind {
            InstrumentKind::Future | InstrumentKind::Option => Some(spec.expiry.ok_or_else(|| missing("expiry"))?),
            _ if spec.expiry.is_some() => return Err(not_app("expiry")),
            _ => None,
        };
        let option = if kind == InstrumentKind::Option {
            let option_type = spec.option_type.ok_or_else(|| missing("option_type"))?;
            let s = spec.strike.as_deref().ok_or_else(|| missing("strike"))?;
            let strike = parse("strike", s)?.to_units(tick_size).map_err(|source| InstrumentError::Decimal {
                symbol: sym(),
                field: "strike",
                source,
            })?;
            if spec.underlying.is_none() {
                return Err(missing("underlying"));
            }
            Some(OptionTerms { option_type, strike })
        } else {
            if spec.strike.is_some() {
                return Err(not_app("strike"));
            }
            if spec.option_type.is_some() {
                return Err(not_app("option_type"));
            }
            None
        };
        let (inverse_num, inverse_den) = if spec.inverse {
            // value = q·lot·mult / (p·tick) base = q · [lm_m · 10^(t_s+8)] / (p · [t_m · 10^lm_s])
            let lm_m = (lot_size.mantissa as i128) * (multiplier.mantissa as i128);
            let lm_s = lot_size.scale + multiplier.scale;
            let num = 10i128.checked_pow(tick_size.scale + MONEY_DECIMALS).and_then(|p| p.checked_mul(lm_m));
            let den = 10i128.checked_pow(lm_s).and_then(|p| p.checked_mul(tick_size.mantissa as i128));
            match (num, den) {
                (Some(n), Some(d)) if n < (1i128 << 80) && d < (1i128 << 60) => (n, d),
                _ => return Err(too_fine()),
            }
        } else {
            (0, 0)
        };
        let min_notional = match spec.min_notional.as_deref() {
            None => Money::ZERO,
            Some(s) => {
                let d = dec("min_notional", s)?;
                if d.mantissa < 0 {
                    return Err(InstrumentError::NotPositive { symbol: sym(), field: "min_notional" });
                }
                d.to_units(Decimal { mantissa: 1, scale: MONEY_DECIMALS })
                    .map(Money::new)
                    .map_err(|source| InstrumentError::Decimal { symbol: sym(), field: "min_notional", source })?
            }
        };
        let perp = kind == InstrumentKind::Perpetual;
        if !perp && (spec.funding_interval_ns.is_some() || spec.funding_rate.is_some()) {
            return Err(not_app("funding_interval_ns / funding_rate"));
        }
        let funding_interval_ns =
            if perp { spec.funding_interval_ns.unwrap_or(DEFAULT_FUNDING_INTERVAL_NS) } else { 0 };
        if perp && funding_interval_ns == 0 {
            return Err(InstrumentError::NotPositive { symbol: sym(), field: "funding_interval_ns" });
        }
        let funding_rate = match spec.funding_rate.as_deref() {
            Some(s) => dec("funding_rate", s)?,
            None => Decimal { mantissa: 0, scale: 0 },
        };
        Ok(Instrument {
            id,
            symbol: spec.symbol.clone(),
            kind,
            tick_size,
            lot_size,
            multiplier,
            tick_lot_value,
            inverse: spec.inverse,
            inverse_num,
            inverse_den,
            expiry,
            option,
            underlying_symbol: spec.underlying.clone(),
            underlying: None,
            min_notional,
            initial_margin_bps: spec.initial_margin_bps,
            maintenance_margin_bps: spec.maintenance_margin_bps,
            funding_interval_ns,
            funding_rate,
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
    /// Money value of `qty` lots at `price` (absolute, saturating).
    ///
    /// Linear: `|price × qty| × tick_lot_value` in quote money units.
    /// Inverse: `|qty| × lot × multiplier / (|price| × tick)` in **base**
    /// money units (truncated; 0 at price 0).
    pub fn notional(&self, price: Ticks, qty: Lots) -> Money {
        let v = if self.inverse {
            let p = i128::from(price.get()).abs();
            if p == 0 {
                return Money::ZERO;
            }
            i128::from(qty.get()).abs() * self.inverse_num / (p * self.inverse_den)
        } else {
            // |ticks × lots| < 2^126 and |tick_lot_value| < 2^63: saturate past i128.
            price.times(qty).abs().saturating_mul(i128::from(self.tick_lot_value))
        };
        Money::saturating_from_i128(v)
    }

    /// Is this an expiring contract (future or option)?
    pub fn expires(&self) -> bool {
        self.expiry.is_some()
    }

    /// Price in this instrument's ticks of `ticks` on `from`'s grid
    /// (truncated toward zero), e.g. an underlying price on an option's grid.
    pub fn convert_price(&self, from: &Instrument, ticks: i64) -> i64 {
        // ticks × f.m / 10^f.s  ÷  (s.m / 10^s.s)
        let (f, s) = (from.tick_size, self.tick_size);
        let num = ticks as i128 * f.mantissa as i128 * 10i128.pow(s.scale);
        let den = s.mantissa as i128 * 10i128.pow(f.scale);
        units::saturate_i64(num / den)
    }

    /// Price in ticks as an f64 decimal (display / Black-76 input only).
    pub fn price_f64(&self, ticks: i64) -> f64 {
        ticks as f64 * self.tick_size.to_f64()
    }

    /// Option payoff per unit at underlying price `underlying_ticks` (ticks of
    /// `underlying`), in this option's ticks; truncated toward zero. 0 for
    /// non-options.
    pub fn intrinsic(&self, underlying: &Instrument, underlying_ticks: i64) -> i64 {
        let Some(o) = self.option else { return 0 };
        let s = self.convert_price(underlying, underlying_ticks);
        match o.option_type {
            OptionType::Call => (s - o.strike).max(0),
            OptionType::Put => (o.strike - s).max(0),
        }
    }
}

/// Resolve every instrument's `underlying_symbol` to its id (instrument ids
/// are indices in `instruments`). An unknown symbol is an error.
pub fn link_underlyings(instruments: &mut [Instrument]) -> Result<(), InstrumentError> {
    for k in 0..instruments.len() {
        let Some(u) = instruments[k].underlying_symbol.clone() else { continue };
        match instruments.iter().position(|i| i.symbol == u) {
            Some(j) if j != k => instruments[k].underlying = Some(instruments[j].id),
            _ => {
                return Err(InstrumentError::UnknownUnderlying {
                    symbol: instruments[k].symbol.clone(),
                    underlying: u,
                });
            }
        }
    }
    Ok(())
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

/// Fee for a fill of `notional` at `rate_ppm` parts per million (negative =
/// rebate). Truncates toward zero; saturates (|rate| > 10^6 on a huge notional).
pub fn fee(notional: Money, rate_ppm: i64) -> Money {
    Money::saturating_from_i128(i128::from(notional.get()) * i128::from(rate_ppm) / 1_000_000)
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
                ..Default::default()
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
            ..Default::default()
        };
        assert!(matches!(Instrument::from_spec(0, &spec), Err(InstrumentError::TooFine { .. })));
    }

    fn spec(symbol: &str, kind: InstrumentKind) -> InstrumentSpec {
        InstrumentSpec {
            symbol: symbol.into(),
            kind,
            tick_size: "0.5".into(),
            lot_size: "0.1".into(),
            multiplier: "1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn derivative_kinds_load_and_link() {
        let fut = InstrumentSpec { expiry: Some(1_000), ..spec("BTC-FUT", InstrumentKind::Future) };
        let opt = InstrumentSpec {
            expiry: Some(1_000),
            strike: Some("60000".into()),
            option_type: Some(OptionType::Put),
            underlying: Some("BTC-FUT".into()),
            min_notional: Some("10".into()),
            ..spec("BTC-P", InstrumentKind::Option)
        };
        let mut v = vec![Instrument::from_spec(0, &fut).unwrap(), Instrument::from_spec(1, &opt).unwrap()];
        link_underlyings(&mut v).unwrap();
        assert_eq!(v[1].underlying, Some(0));
        assert_eq!(v[1].option, Some(OptionTerms { option_type: OptionType::Put, strike: 120_000 }));
        assert_eq!(v[1].min_notional, Money::new(10 * MONEY_SCALE));
        // put payoff at 59000.5 (underlying ticks 118001) = 999.5 → 1999 ticks
        assert_eq!(v[1].intrinsic(&v[0], 118_001), 1999);
        assert_eq!(v[1].intrinsic(&v[0], 130_000), 0);
        let perp = Instrument::from_spec(2, &spec("P", InstrumentKind::Perpetual)).unwrap();
        assert_eq!(perp.funding_interval_ns, DEFAULT_FUNDING_INTERVAL_NS);
        // errors name the field
        let e = Instrument::from_spec(0, &spec("F", InstrumentKind::Future)).unwrap_err();
        assert_eq!(e, InstrumentError::Missing { symbol: "F".into(), field: "expiry" });
        let bad_strike = InstrumentSpec { strike: Some("60000.25".into()), ..opt.clone() };
        assert!(matches!(Instrument::from_spec(1, &bad_strike), Err(InstrumentError::Decimal { field: "strike", .. })));
        let inv_spot = InstrumentSpec { inverse: true, ..spec("S", InstrumentKind::Spot) };
        assert!(matches!(Instrument::from_spec(0, &inv_spot), Err(InstrumentError::NotApplicable { .. })));
        let mut lonely = vec![Instrument::from_spec(0, &opt).unwrap()];
        assert!(matches!(link_underlyings(&mut lonely), Err(InstrumentError::UnknownUnderlying { .. })));
    }

    #[test]
    fn convert_price_between_grids() {
        let a = Instrument::from_spec(0, &spec("A", InstrumentKind::Spot)).unwrap(); // tick 0.5
        let b =
            Instrument::from_spec(0, &InstrumentSpec { tick_size: "0.1".into(), ..spec("B", InstrumentKind::Spot) })
                .unwrap();
        assert_eq!(b.convert_price(&a, 3), 15); // 1.5
        assert_eq!(a.convert_price(&b, 7), 1); // 0.7 → 1 tick of 0.5, truncated
    }
}
