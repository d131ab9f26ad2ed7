//! Exact decimal numbers as `mantissa × 10^-scale`, for config and data files.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal {
    pub mantissa: i64,
    pub scale: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum DecimalError {
    #[error("`{0}` is not a decimal number")]
    Syntax(String),
    #[error("`{0}` has too many digits")]
    Overflow(String),
    #[error("`{value}` is not a multiple of {unit}")]
    NotAMultiple { value: String, unit: String },
}

const MAX_SCALE: u32 = 18;

impl Decimal {
    pub fn parse(s: &str) -> Result<Decimal, DecimalError> {
        let err = || DecimalError::Syntax(s.to_string());
        let t = s.trim();
        let (neg, body) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(err());
        }
        if !int.bytes().all(|c| c.is_ascii_digit()) || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return Err(err());
        }
        // Drop trailing zeros of the fraction so "1.50" == "1.5".
        let frac = frac.trim_end_matches('0');
        let Some(scale) = u32::try_from(frac.len()).ok().filter(|&n| n <= MAX_SCALE) else {
            return Err(DecimalError::Overflow(s.to_string()));
        };
        let mut m: i64 = 0;
        for c in int.bytes().chain(frac.bytes()) {
            m = m
                .checked_mul(10)
                .and_then(|m| m.checked_add((c - b'0') as i64))
                .ok_or_else(|| DecimalError::Overflow(s.to_string()))?;
        }
        Ok(Decimal { mantissa: if neg { -m } else { m }, scale })
    }

    /// How many whole `unit`s this value is; an error if not a whole number.
    pub fn to_units(self, unit: Decimal) -> Result<i64, DecimalError> {
        let s = self.scale.max(unit.scale);
        let v = self.mantissa as i128 * 10i128.pow(s - self.scale);
        let u = unit.mantissa as i128 * 10i128.pow(s - unit.scale);
        if u == 0 || v % u != 0 {
            return Err(DecimalError::NotAMultiple { value: self.to_string(), unit: unit.to_string() });
        }
        i64::try_from(v / u).map_err(|_| DecimalError::Overflow(self.to_string()))
    }

    pub fn from_units(units: i64, unit: Decimal) -> Decimal {
        Decimal { mantissa: units.saturating_mul(unit.mantissa), scale: unit.scale }
    }

    /// As binary64, the same bits on every platform: an `i64 → f64`
    /// conversion divided by an exact power of ten ([`crate::detmath::pow10`]).
    pub fn to_f64(self) -> f64 {
        self.mantissa as f64 / crate::detmath::pow10(self.scale)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.mantissa < 0;
        let digits = (self.mantissa as i128).abs().to_string();
        let scale = self.scale as usize;
        let (int, frac) = if digits.len() > scale {
            (digits[..digits.len() - scale].to_string(), digits[digits.len() - scale..].to_string())
        } else {
            ("0".to_string(), format!("{:0>width$}", digits, width = scale))
        };
        let frac = frac.trim_end_matches('0');
        write!(f, "{}{}", if neg { "-" } else { "" }, int)?;
        if !frac.is_empty() {
            write!(f, ".{frac}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for (s, m, sc, back) in [
            ("0.1", 1, 1, "0.1"),
            ("65000.30", 650003, 1, "65000.3"),
            ("-2", -2, 0, "-2"),
            (".5", 5, 1, "0.5"),
            ("0.00000001", 1, 8, "0.00000001"),
        ] {
            let d = Decimal::parse(s).unwrap();
            assert_eq!((d.mantissa, d.scale), (m, sc), "{s}");
            assert_eq!(d.to_string(), back);
        }
        for bad in ["", ".", "1.2.3", "1e5", "abc", "--1"] {
            assert!(Decimal::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(Decimal::parse("99999999999999999999"), Err(DecimalError::Overflow(_))));
    }
}
