//! Fast exact decimal → integer-grid parsing and formatting, no allocation on
//! the success path.

use bulkhead_model::Decimal;

const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// An instrument grid (tick or lot size) specialised for parsing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Grid {
    unit: Decimal,
    /// unit = mantissa × 10^-scale, mantissa > 0
    mantissa: u64,
    scale: u32,
}

impl Grid {
    pub(crate) fn new(unit: Decimal) -> Grid {
        Grid { unit, mantissa: unit.mantissa.max(1) as u64, scale: unit.scale.min(18) }
    }

    /// Exact non-negative decimal (`123`, `123.45`, `.5`, `1e-3`) → whole
    /// number of grid units; an error message otherwise.
    #[inline(always)]
    pub(crate) fn parse(&self, s: &[u8]) -> Result<i64, String> {
        let mut v: u64 = 0;
        let mut digits = 0u32; // significant digits accumulated into v
        let mut frac = 0u32; // fraction digits accumulated into v
        let mut i = 0;
        let n = s.len();
        while i < n {
            let d = s[i].wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            v = v.wrapping_mul(10).wrapping_add(d as u64);
            digits += (v != 0) as u32;
            i += 1;
        }
        let int_len = i;
        let mut frac_len = 0;
        if i < n && s[i] == b'.' {
            i += 1;
            let fs = i;
            while i < n {
                let d = s[i].wrapping_sub(b'0');
                if d > 9 {
                    break;
                }
                if frac < self.scale {
                    v = v.wrapping_mul(10).wrapping_add(d as u64);
                    digits += (v != 0) as u32;
                    frac += 1;
                } else if d != 0 {
                    // finer than the grid's decimal places: may still be exact
                    // only if the rest is zeros, which it is not
                    return Err(self.not_multiple(s));
                }
                i += 1;
            }
            frac_len = i - fs;
        }
        if i < n {
            return if s[i] == b'e' || s[i] == b'E' { self.parse_slow(s) } else { Err(syntax(s)) };
        }
        if int_len + frac_len == 0 {
            return Err(syntax(s));
        }
        let pad = self.scale - frac;
        if digits + pad > 18 {
            return Err(format!("`{}` is too large", show(s)));
        }
        v *= POW10[pad as usize];
        if self.mantissa != 1 {
            if !v.is_multiple_of(self.mantissa) {
                return Err(self.not_multiple(s));
            }
            v /= self.mantissa;
        }
        Ok(v as i64)
    }

    #[cold]
    fn parse_slow(&self, s: &[u8]) -> Result<i64, String> {
        let t = std::str::from_utf8(s).map_err(|_| syntax(s))?;
        let (m, e) = t.split_once(['e', 'E']).ok_or_else(|| syntax(s))?;
        if m.starts_with(['-', '+']) {
            return Err(syntax(s));
        }
        let d = Decimal::parse(m).map_err(|_| syntax(s))?;
        let e: i32 = e.parse().map_err(|_| syntax(s))?;
        let scale = d.scale as i32 - e;
        let d = if scale >= 0 {
            if scale > 18 {
                return Err(self.not_multiple(s));
            }
            Decimal { mantissa: d.mantissa, scale: scale as u32 }
        } else {
            let m = d.mantissa.checked_mul(10i64.checked_pow((-scale) as u32).unwrap_or(i64::MAX));
            Decimal { mantissa: m.ok_or_else(|| format!("`{}` is too large", show(s)))?, scale: 0 }
        };
        d.to_units(self.unit).map_err(|_| self.not_multiple(s))
    }

    #[cold]
    fn not_multiple(&self, s: &[u8]) -> String {
        format!("`{}` is not a multiple of {}", show(s), self.unit)
    }

    /// Append `units × unit` as a decimal string (no trailing zeros).
    pub(crate) fn format(&self, units: i64, out: &mut Vec<u8>) {
        let neg = units < 0;
        let v = units.unsigned_abs() as u128 * self.mantissa as u128;
        if neg {
            out.push(b'-');
        }
        let p = POW10[self.scale as usize] as u128;
        push_u128(out, v / p);
        let mut f = (v % p) as u64;
        if f != 0 {
            out.push(b'.');
            let mut w = self.scale;
            while f.is_multiple_of(10) {
                f /= 10;
                w -= 1;
            }
            let mut tmp = [b'0'; 20];
            let mut k = w as usize;
            while f > 0 {
                k -= 1;
                tmp[k] = b'0' + (f % 10) as u8;
                f /= 10;
            }
            out.extend_from_slice(&tmp[..w as usize]);
        }
    }
}

fn syntax(s: &[u8]) -> String {
    format!("`{}` is not a non-negative decimal number", show(s))
}

pub(crate) fn show(s: &[u8]) -> String {
    let t = String::from_utf8_lossy(s);
    if t.chars().count() > 40 { format!("{}…", t.chars().take(40).collect::<String>()) } else { t.into_owned() }
}

/// Eight ASCII digits (little-endian load) → value, or `None` if any byte is
/// not a digit. SWAR: three multiply-shift steps instead of eight.
#[inline(always)]
fn parse8(chunk: [u8; 8]) -> Option<u64> {
    let v = u64::from_le_bytes(chunk);
    let d = v.wrapping_sub(0x3030_3030_3030_3030);
    // every byte must be in 0..=9: no borrow from the subtraction and no byte > 9
    if (v & 0xF0F0_F0F0_F0F0_F0F0) != 0x3030_3030_3030_3030
        || (d.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) != 0
    {
        return None;
    }
    let d = d.wrapping_mul((10 << 8) + 1) >> 8;
    let d = (d & 0x00FF_00FF_00FF_00FF).wrapping_mul((100 << 16) + 1) >> 16;
    Some((d & 0x0000_FFFF_0000_FFFF).wrapping_mul((10000 << 32) + 1) >> 32)
}

/// Unsigned decimal integer of at most 19 digits.
#[inline(always)]
pub(crate) fn parse_u64(s: &[u8]) -> Result<u64, String> {
    // fast path: 16-digit µs timestamps
    if s.len() == 16
        && let (Some(hi), Some(lo)) = (parse8(s[..8].try_into().unwrap()), parse8(s[8..].try_into().unwrap()))
    {
        return Ok(hi * 100_000_000 + lo);
    }
    if s.is_empty() || s.len() > 19 {
        return Err(format!("`{}` is not a non-negative integer", show(s)));
    }
    let mut v: u64 = 0;
    for &c in s {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return Err(format!("`{}` is not a non-negative integer", show(s)));
        }
        v = v * 10 + d as u64;
    }
    Ok(v)
}

pub(crate) fn push_u64(out: &mut Vec<u8>, v: u64) {
    push_u128(out, v as u128)
}

fn push_u128(out: &mut Vec<u8>, mut v: u128) {
    let mut tmp = [0u8; 40];
    let mut k = tmp.len();
    loop {
        k -= 1;
        tmp[k] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[k..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> Grid {
        Grid::new(Decimal::parse(s).unwrap())
    }

    #[test]
    fn parses_exactly_or_refuses() {
        let tick = g("0.1");
        assert_eq!(tick.parse(b"65000.3"), Ok(650_003));
        assert_eq!(tick.parse(b"65000.30000"), Ok(650_003));
        assert_eq!(tick.parse(b"65000"), Ok(650_000));
        assert_eq!(tick.parse(b"65000."), Ok(650_000));
        assert_eq!(tick.parse(b".5"), Ok(5));
        assert_eq!(tick.parse(b"6.5e4"), Ok(650_000));
        assert!(tick.parse(b"65000.35").unwrap_err().contains("not a multiple of 0.1"));
        for bad in [&b""[..], b".", b"-1", b"1.2.3", b"abc", b"1,0", b" 1"] {
            assert!(tick.parse(bad).is_err(), "{:?}", std::str::from_utf8(bad));
        }
        assert!(tick.parse(b"99999999999999999999").unwrap_err().contains("too large"));
        let lot = g("0.001");
        assert_eq!(lot.parse(b"1.5"), Ok(1500));
        assert_eq!(lot.parse(b"1e-3"), Ok(1));
        assert_eq!(lot.parse(b"0.0000"), Ok(0));
        assert!(lot.parse(b"1e-4").is_err());
        let half = g("0.5");
        assert_eq!(half.parse(b"2.5"), Ok(5));
        assert!(half.parse(b"2.1").is_err());
        let five = g("5");
        assert_eq!(five.parse(b"65005"), Ok(13_001));
        assert!(five.parse(b"65001").is_err());
    }

    #[test]
    fn parse_u64_fast_and_slow_paths_agree() {
        for s in [
            "1700000000000000",
            "0000000000000000",
            "9999999999999999",
            "1234567890123456",
            "0",
            "42",
            "18446744073709551",
        ] {
            assert_eq!(parse_u64(s.as_bytes()), Ok(s.parse::<u64>().unwrap()), "{s}");
        }
        for bad in ["170000000000000a", "17000000/0000000", "1700000000000:00", "", "-1", "12345678901234567890"] {
            assert!(parse_u64(bad.as_bytes()).is_err(), "{bad}");
        }
        // every single-byte corruption of a 16-digit number is caught
        let good = *b"1700000000000000";
        for i in 0..16 {
            for c in 0..=255u8 {
                let mut b = good;
                b[i] = c;
                assert_eq!(parse_u64(&b).is_ok(), c.is_ascii_digit(), "{i} {c}");
            }
        }
    }

    #[test]
    fn formats_like_decimal_display() {
        for (unit, units) in
            [("0.1", 650_003i64), ("0.1", 650_000), ("0.001", 1), ("0.001", 1500), ("5", 3), ("0.25", 7)]
        {
            let grid = g(unit);
            let mut out = Vec::new();
            grid.format(units, &mut out);
            let want = Decimal::from_units(units, Decimal::parse(unit).unwrap()).to_string();
            assert_eq!(String::from_utf8(out).unwrap(), want);
            assert_eq!(grid.parse(want.as_bytes()), Ok(units));
        }
    }
}
