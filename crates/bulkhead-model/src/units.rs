//! Typed units: [`Ticks`] (prices), [`HalfTicks`] (mids and references,
//! 2 × ticks), [`Lots`] (quantities) and [`Money`] (1e-8 of the money
//! currency, see [`crate::MONEY_SCALE`]).
//!
//! Each is a transparent newtype over an integer: the same size and layout
//! as the raw number, serialised (serde) as the plain integer, printed
//! (`Display`) as the plain integer. Only the arithmetic that means
//! something is defined: a unit plus or minus the same unit, negation,
//! `abs`, and a price times a quantity ([`Ticks::times`], exact in `i128`
//! tick·lots; [`crate::Instrument::notional`] turns that into [`Money`] with
//! the instrument's multiplier). Adding ticks to lots does not compile:
//! ```compile_fail,E0308
//! use bulkhead_model::{Lots, Ticks};
//! let _ = Ticks::new(1) + Lots::new(1);
//! ```
//!
//! The operators (`+`, `-`, unary `-`) behave like the integer's (they panic
//! on overflow in debug builds and wrap in release); code that sees hostile
//! or astronomical values uses the `checked_` / `saturating_` methods, as
//! the raw integer code did.
//!
//! The ABI's wire records (`bulkhead_abi::Event`, `OrderRequest`, ...) stay
//! raw `i64`: they are shared with guests and the `no_std` SDK, and this
//! crate depends on the ABI crate, not the other way round. Raw integers
//! become units at the host's boundary (risk's and the venue's entry
//! points), with [`Ticks::new`] / [`Lots::new`], and go back with `.get()`.

use core::fmt;
use core::ops::{Add, AddAssign, Neg, Sub, SubAssign};

use serde::{Deserialize, Serialize};

macro_rules! unit {
    ($(#[$doc:meta])* $name:ident($raw:ty)) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[repr(transparent)]
        #[serde(transparent)]
        pub struct $name($raw);

        impl $name {
            pub const ZERO: $name = $name(0);
            pub const MAX: $name = $name(<$raw>::MAX);
            pub const MIN: $name = $name(<$raw>::MIN);

            /// A raw integer in this unit (the boundary from raw numbers).
            #[inline]
            pub const fn new(v: $raw) -> $name {
                $name(v)
            }
            /// The raw integer (the boundary back to raw numbers).
            #[inline]
            pub const fn get(self) -> $raw {
                self.0
            }
            #[inline]
            pub const fn abs(self) -> $name {
                $name(self.0.abs())
            }
            #[inline]
            pub const fn saturating_abs(self) -> $name {
                $name(self.0.saturating_abs())
            }
            #[inline]
            pub const fn signum(self) -> $raw {
                self.0.signum()
            }
            #[inline]
            pub const fn is_zero(self) -> bool {
                self.0 == 0
            }
            #[inline]
            pub const fn is_positive(self) -> bool {
                self.0 > 0
            }
            #[inline]
            pub const fn is_negative(self) -> bool {
                self.0 < 0
            }
            #[inline]
            pub const fn checked_add(self, o: $name) -> Option<$name> {
                match self.0.checked_add(o.0) {
                    Some(v) => Some($name(v)),
                    None => None,
                }
            }
            #[inline]
            pub const fn checked_sub(self, o: $name) -> Option<$name> {
                match self.0.checked_sub(o.0) {
                    Some(v) => Some($name(v)),
                    None => None,
                }
            }
            #[inline]
            pub const fn checked_neg(self) -> Option<$name> {
                match self.0.checked_neg() {
                    Some(v) => Some($name(v)),
                    None => None,
                }
            }
            #[inline]
            pub const fn saturating_add(self, o: $name) -> $name {
                $name(self.0.saturating_add(o.0))
            }
            #[inline]
            pub const fn saturating_sub(self, o: $name) -> $name {
                $name(self.0.saturating_sub(o.0))
            }
            #[inline]
            pub const fn saturating_neg(self) -> $name {
                $name(self.0.saturating_neg())
            }
            /// Scale by a dimensionless count (e.g. a side's sign).
            #[inline]
            pub const fn saturating_mul_int(self, k: $raw) -> $name {
                $name(self.0.saturating_mul(k))
            }
            /// Scale by a dimensionless count, `None` on overflow.
            #[inline]
            pub const fn checked_mul_int(self, k: $raw) -> Option<$name> {
                match self.0.checked_mul(k) {
                    Some(v) => Some($name(v)),
                    None => None,
                }
            }
        }

        impl Add for $name {
            type Output = $name;
            #[inline]
            fn add(self, o: $name) -> $name {
                $name(self.0 + o.0)
            }
        }
        impl Sub for $name {
            type Output = $name;
            #[inline]
            fn sub(self, o: $name) -> $name {
                $name(self.0 - o.0)
            }
        }
        impl AddAssign for $name {
            #[inline]
            fn add_assign(&mut self, o: $name) {
                self.0 += o.0;
            }
        }
        impl SubAssign for $name {
            #[inline]
            fn sub_assign(&mut self, o: $name) {
                self.0 -= o.0;
            }
        }
        impl Neg for $name {
            type Output = $name;
            #[inline]
            fn neg(self) -> $name {
                $name(-self.0)
            }
        }
        impl core::iter::Sum for $name {
            fn sum<I: Iterator<Item = $name>>(it: I) -> $name {
                it.fold($name::ZERO, |a, b| a + b)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

unit!(
    /// A price in integer ticks of its instrument (`price = ticks × tick_size`).
    Ticks(i64)
);
unit!(
    /// A quantity in integer lots of its instrument (`qty = lots × lot_size`);
    /// signed where it is a position (> 0 long).
    Lots(i64)
);
unit!(
    /// An amount of money in 1e-8 units of the money currency (quote, or base
    /// for inverse contracts): PnL, fees, notional, limits.
    Money(i64)
);
unit!(
    /// A price in half-ticks (2 × ticks), so the mid of a bid and an ask is
    /// exact: risk's reference prices and the R3 collar's reference (the
    /// `current` of a `PriceCollar` refusal). `i128` so `bid + ask` of any
    /// two `i64` prices fits.
    HalfTicks(i128)
);

impl Ticks {
    /// Exact price × quantity in tick·lots (`i64 × i64` always fits `i128`),
    /// the unit of a linear position's entry cost; × `tick_lot_value` is money.
    #[inline]
    pub const fn times(self, qty: Lots) -> i128 {
        self.0 as i128 * qty.0 as i128
    }
    /// The same price in half-ticks.
    #[inline]
    pub const fn half_ticks(self) -> HalfTicks {
        HalfTicks(2 * self.0 as i128)
    }
    /// The mid of `bid` and `ask`, exact, in half-ticks.
    #[inline]
    pub const fn mid(bid: Ticks, ask: Ticks) -> HalfTicks {
        HalfTicks(bid.0 as i128 + ask.0 as i128)
    }
}

impl HalfTicks {
    /// Clamped into `i64` (for a record field that is `i64`).
    #[inline]
    pub const fn saturating_i64(self) -> i64 {
        saturate_i64(self.0)
    }
}

/// An `i128` clamped into `i64`: the one place a wide product or quotient
/// comes back to 64 bits.
#[inline]
#[expect(clippy::cast_possible_truncation, reason = "in range: checked on the lines above")]
pub const fn saturate_i64(v: i128) -> i64 {
    if v > i64::MAX as i128 {
        i64::MAX
    } else if v < i64::MIN as i128 {
        i64::MIN
    } else {
        v as i64
    }
}

impl Lots {
    /// `self × sign` of a side (+1 buy, −1 sell): a signed position change.
    #[inline]
    pub const fn signed(self, side: crate::Side) -> Lots {
        Lots(self.0 * side.sign())
    }
}

impl Money {
    /// An `i128` amount clamped into `i64` money (saturating, as the raw
    /// code's `to_i64` did).
    #[inline]
    pub const fn saturating_from_i128(v: i128) -> Money {
        Money(HalfTicks(v).saturating_i64())
    }
    /// Fee on this notional at `rate_ppm` parts per million (negative =
    /// rebate), truncated toward zero: [`crate::fee`].
    #[inline]
    pub fn fee_at(self, rate_ppm: i64) -> Money {
        crate::fee(self, rate_ppm)
    }
    /// `self × bps / 10 000` in `i128` (margin rates), truncated toward zero.
    #[inline]
    pub fn bps_wide(self, bps: u32) -> i128 {
        i128::from(self.0) * i128::from(bps) / 10_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_unit_arithmetic() {
        assert_eq!(Ticks::new(5) + Ticks::new(3), Ticks::new(8));
        assert_eq!(Lots::new(5) - Lots::new(7), Lots::new(-2));
        assert_eq!(-Money::new(4), Money::new(-4));
        assert_eq!(Money::new(-4).abs(), Money::new(4));
        let mut m = Money::new(1);
        m += Money::new(2);
        m -= Money::new(10);
        assert_eq!(m, Money::new(-7));
        assert_eq!([Lots::new(1), Lots::new(2), Lots::new(3)].into_iter().sum::<Lots>(), Lots::new(6));
        assert!(Ticks::new(1) < Ticks::new(2));
        assert_eq!(Lots::new(3).signed(crate::Side::Sell), Lots::new(-3));
        assert_eq!(Lots::new(3).signed(crate::Side::Buy), Lots::new(3));
    }

    #[test]
    fn overflow_edges() {
        assert_eq!(Money::MAX.checked_add(Money::new(1)), None);
        assert_eq!(Money::MIN.checked_sub(Money::new(1)), None);
        assert_eq!(Money::MIN.checked_neg(), None);
        assert_eq!(Money::MAX.saturating_add(Money::new(1)), Money::MAX);
        assert_eq!(Money::MIN.saturating_sub(Money::new(1)), Money::MIN);
        assert_eq!(Lots::MIN.saturating_neg(), Lots::MAX);
        assert_eq!(Lots::MIN.saturating_abs(), Lots::MAX);
        assert_eq!(Lots::MAX.saturating_mul_int(2), Lots::MAX);
        assert_eq!(Lots::MAX.checked_mul_int(2), None);
        assert_eq!(Money::saturating_from_i128(i128::MAX), Money::MAX);
        assert_eq!(Money::saturating_from_i128(i128::MIN), Money::MIN);
        assert_eq!(Money::saturating_from_i128(-5), Money::new(-5));
        // price × qty never overflows: i64 × i64 fits i128
        assert_eq!(Ticks::MAX.times(Lots::MAX), i64::MAX as i128 * i64::MAX as i128);
        assert_eq!(Ticks::MIN.times(Lots::MIN), i64::MIN as i128 * i64::MIN as i128);
        // the mid of any two prices fits
        assert_eq!(Ticks::mid(Ticks::MAX, Ticks::MAX), HalfTicks::new(2 * i64::MAX as i128));
        assert_eq!(Ticks::mid(Ticks::MAX, Ticks::MAX).saturating_i64(), i64::MAX);
        assert_eq!(Ticks::new(-3).half_ticks(), HalfTicks::new(-6));
        assert_eq!(HalfTicks::new(i128::MIN).saturating_i64(), i64::MIN);
        assert_eq!(Money::new(1_000_000).fee_at(-250), Money::new(-250));
    }

    #[test]
    fn serde_is_the_plain_integer() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Limits {
            qty: Lots,
            notional: Money,
            price: Ticks,
        }
        let l: Limits = toml::from_str("qty = 5\nnotional = -7\nprice = 9223372036854775807").unwrap();
        assert_eq!(l, Limits { qty: Lots::new(5), notional: Money::new(-7), price: Ticks::MAX });
        assert_eq!(toml::to_string(&l).unwrap(), "qty = 5\nnotional = -7\nprice = 9223372036854775807\n");
        assert!(toml::from_str::<Limits>("qty = 1.5\nnotional = 0\nprice = 0").is_err());
        assert!(toml::from_str::<Limits>("qty = \"5\"\nnotional = 0\nprice = 0").is_err());
        assert_eq!(format!("{} {} {}", Ticks::new(-1), Lots::new(2), HalfTicks::new(3)), "-1 2 3");
        assert_eq!(format!("{:?}", Money::new(4)), "Money(4)");
    }

    #[test]
    fn layout_is_the_raw_integer() {
        assert_eq!(size_of::<Ticks>(), size_of::<i64>());
        assert_eq!(size_of::<Option<Lots>>(), size_of::<Option<i64>>());
        assert_eq!(size_of::<HalfTicks>(), size_of::<i128>());
    }
}
