//! Black-76: European options on a forward / future.
//!
//! `f64` on purpose: prices and greeks are risk limits (R9) and venue marks.
//! Matching never uses them; a venue that marks options with [`price`]
//! rounds the result to the option's tick grid before using it, and R9 rounds
//! greeks to integer money. `exp`, `ln` and `sqrt` come from
//! [`crate::detmath`] (pure-Rust `libm`), so every result here is the same
//! bits on every platform (pinned in `tests/black76_reference.rs`).
//!
//! Inputs: `f` forward (futures) price, `k` strike (same unit as `f`),
//! `t_years` time to expiry in years (365-day years of ns: see
//! [`years_between`]), `vol` annualised lognormal volatility (0.5 = 50 %),
//! `r` continuously compounded discount rate.
//!
//! Formulas (`D = e^{-rT}`, `d1 = (ln(F/K) + σ²T/2)/(σ√T)`, `d2 = d1 − σ√T`):
//! - call `D·(F·N(d1) − K·N(d2))`, put `D·(K·N(−d2) − F·N(−d1))`
//! - delta: call `D·N(d1)`, put `−D·N(−d1)` (per unit of `f`)
//! - gamma: `D·n(d1)/(F·σ·√T)`
//! - vega: `F·D·n(d1)·√T` per 1.00 of vol (divide by 100 for "per vol point")
//! - theta: `−F·D·n(d1)·σ/(2√T) + r·price`, per year of calendar time
//!   (divide by 365 for per day); negative = time decay.
//!
//! At or after expiry (`t_years <= 0`) or with `vol <= 0` the price is the
//! discounted intrinsic value, delta is the discounted intrinsic's slope
//! (±D or 0; ½·D exactly at the money) and gamma, vega and theta are 0.

pub use crate::OptionType;
use crate::detmath;

/// Option greeks (see module docs for units).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Greeks {
    pub delta: f64,
    pub gamma: f64,
    /// Per 1.00 of volatility.
    pub vega: f64,
    /// Per year of calendar time.
    pub theta: f64,
}

/// Nanoseconds in a 365-day year.
pub const NS_PER_YEAR: f64 = 365.0 * 86_400.0 * 1e9;

/// Year fraction between two ns timestamps (0 if `to <= from`).
pub fn years_between(from_ns: u64, to_ns: u64) -> f64 {
    to_ns.saturating_sub(from_ns) as f64 / NS_PER_YEAR
}

/// Standard normal density.
pub fn norm_pdf(x: f64) -> f64 {
    detmath::exp(-0.5 * x * x) / detmath::sqrt(2.0 * std::f64::consts::PI)
}

/// Standard normal cumulative distribution (Hart 1968 / West 2005 double
/// precision algorithm, absolute error < 1e-14).
pub fn norm_cdf(x: f64) -> f64 {
    let xa = x.abs();
    let c = if xa > 37.0 {
        0.0
    } else {
        let e = detmath::exp(-xa * xa / 2.0);
        if xa < 7.071_067_811_865_47 {
            let mut b = 3.526_249_659_989_11e-2 * xa + 0.700_383_064_443_688;
            b = b * xa + 6.373_962_203_531_65;
            b = b * xa + 33.912_866_078_383;
            b = b * xa + 112.079_291_497_871;
            b = b * xa + 221.213_596_169_931;
            b = b * xa + 220.206_867_912_376;
            let num = e * b;
            let mut b = 8.838_834_764_831_84e-2 * xa + 1.755_667_163_182_64;
            b = b * xa + 16.064_177_579_207;
            b = b * xa + 86.780_732_202_946_1;
            b = b * xa + 296.564_248_779_674;
            b = b * xa + 637.333_633_378_831;
            b = b * xa + 793.826_512_519_948;
            b = b * xa + 440.413_735_824_752;
            num / b
        } else {
            let mut b = xa + 0.65;
            b = xa + 4.0 / b;
            b = xa + 3.0 / b;
            b = xa + 2.0 / b;
            b = xa + 1.0 / b;
            e / b / 2.506_628_274_631
        }
    };
    if x > 0.0 { 1.0 - c } else { c }
}

fn expired(kind: OptionType, f: f64, k: f64, t_years: f64, vol: f64) -> bool {
    let _ = (kind, f, k);
    t_years <= 0.0 || vol <= 0.0
}

fn d1d2(f: f64, k: f64, t: f64, vol: f64) -> (f64, f64) {
    let s = vol * detmath::sqrt(t);
    let d1 = (detmath::ln(f / k) + 0.5 * vol * vol * t) / s;
    (d1, d1 - s)
}

/// Black-76 price of a European call or put on a forward.
pub fn price(kind: OptionType, f: f64, k: f64, t_years: f64, vol: f64, r: f64) -> f64 {
    let t = t_years.max(0.0);
    let disc = detmath::exp(-r * t);
    if expired(kind, f, k, t_years, vol) || f <= 0.0 || k <= 0.0 {
        return disc
            * match kind {
                OptionType::Call => (f - k).max(0.0),
                OptionType::Put => (k - f).max(0.0),
            };
    }
    let (d1, d2) = d1d2(f, k, t, vol);
    match kind {
        OptionType::Call => disc * (f * norm_cdf(d1) - k * norm_cdf(d2)),
        OptionType::Put => disc * (k * norm_cdf(-d2) - f * norm_cdf(-d1)),
    }
}

/// Black-76 greeks (see module docs for units).
pub fn greeks(kind: OptionType, f: f64, k: f64, t_years: f64, vol: f64, r: f64) -> Greeks {
    let t = t_years.max(0.0);
    let disc = detmath::exp(-r * t);
    if expired(kind, f, k, t_years, vol) || f <= 0.0 || k <= 0.0 {
        let slope = if f > k {
            1.0
        } else if f < k {
            0.0
        } else {
            0.5
        };
        let delta = match kind {
            OptionType::Call => disc * slope,
            OptionType::Put => disc * (slope - 1.0),
        };
        return Greeks { delta, gamma: 0.0, vega: 0.0, theta: 0.0 };
    }
    let (d1, _) = d1d2(f, k, t, vol);
    let sq = detmath::sqrt(t);
    let pdf = norm_pdf(d1);
    let p = price(kind, f, k, t, vol, r);
    let delta = match kind {
        OptionType::Call => disc * norm_cdf(d1),
        OptionType::Put => -disc * norm_cdf(-d1),
    };
    Greeks {
        delta,
        gamma: disc * pdf / (f * vol * sq),
        vega: f * disc * pdf * sq,
        theta: -f * disc * pdf * vol / (2.0 * sq) + r * p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OptionType::{Call, Put};

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn normal_cdf_reference_values() {
        assert!(close(norm_cdf(0.0), 0.5, 1e-15));
        assert!(close(norm_cdf(1.96), 0.975_002_104_851_779_5, 1e-14));
        assert!(close(norm_cdf(-1.0), 0.158_655_253_931_457_07, 1e-14));
        assert!(close(norm_cdf(8.0) + norm_cdf(-8.0), 1.0, 1e-15));
    }

    #[test]
    fn textbook_prices() {
        // Haug, "The Complete Guide to Option Pricing Formulas", Black-76
        // example: F = X = 19, T = 0.75, r = 10 %, σ = 28 % → c = p = 1.7011.
        let c = price(Call, 19.0, 19.0, 0.75, 0.28, 0.10);
        let p = price(Put, 19.0, 19.0, 0.75, 0.28, 0.10);
        assert!(close(c, 1.7011, 5e-5), "{c}");
        assert!(close(p, 1.7011, 5e-5), "{p}");
        // Hull, "Options, Futures, and Other Derivatives", European put on a
        // futures: F = K = 20, r = 9 %, T = 4 months, σ = 25 % → p = 1.12.
        let p = price(Put, 20.0, 20.0, 4.0 / 12.0, 0.25, 0.09);
        assert!(close(p, 1.12, 0.005), "{p}");
        assert!(close(p, 1.116_641_456_558_9, 1e-9), "{p}");
    }

    #[test]
    fn put_call_parity() {
        for &(f, k, t, v, r) in
            &[(100.0, 90.0, 0.5, 0.3, 0.05), (60_000.0, 70_000.0, 0.1, 0.8, 0.0), (20.0, 25.0, 2.0, 0.15, 0.03)]
        {
            let lhs = price(Call, f, k, t, v, r) - price(Put, f, k, t, v, r);
            let rhs = detmath::exp(-r * t) * (f - k);
            assert!(close(lhs, rhs, 1e-9 * f), "{f} {k}: {lhs} vs {rhs}");
            let (gc, gp) = (greeks(Call, f, k, t, v, r), greeks(Put, f, k, t, v, r));
            assert!(close(gc.delta - gp.delta, detmath::exp(-r * t), 1e-12));
            assert!(close(gc.gamma, gp.gamma, 1e-15) && close(gc.vega, gp.vega, 1e-9));
        }
    }

    #[test]
    fn greeks_match_finite_differences() {
        let (f, k, t, v, r) = (100.0, 95.0, 0.4, 0.35, 0.04);
        for kind in [Call, Put] {
            let g = greeks(kind, f, k, t, v, r);
            let h = 1e-3;
            let pf = |x| price(kind, x, k, t, v, r);
            let delta = (pf(f + h) - pf(f - h)) / (2.0 * h);
            let gamma = (pf(f + h) - 2.0 * pf(f) + pf(f - h)) / (h * h);
            let vega = (price(kind, f, k, t, v + 1e-5, r) - price(kind, f, k, t, v - 1e-5, r)) / 2e-5;
            let theta = -(price(kind, f, k, t + 1e-6, v, r) - price(kind, f, k, t - 1e-6, v, r)) / 2e-6;
            assert!(close(g.delta, delta, 1e-7), "{kind:?} delta {} {delta}", g.delta);
            assert!(close(g.gamma, gamma, 1e-5), "{kind:?} gamma {} {gamma}", g.gamma);
            assert!(close(g.vega, vega, 1e-5), "{kind:?} vega {} {vega}", g.vega);
            assert!(close(g.theta, theta, 1e-4), "{kind:?} theta {} {theta}", g.theta);
        }
        // Hull-style hand figures for the ATM Haug case: delta_c = e^{-rT} N(d1),
        // d1 = σ√T/2 = 0.121244 → N(d1) = 0.548252, e^{-0.075} = 0.927743.
        let g = greeks(Call, 19.0, 19.0, 0.75, 0.28, 0.10);
        assert!(close(g.delta, 0.927_743 * 0.548_252, 1e-5), "{}", g.delta);
    }

    #[test]
    fn expired_is_intrinsic() {
        assert_eq!(price(Call, 110.0, 100.0, 0.0, 0.5, 0.0), 10.0);
        assert_eq!(price(Put, 110.0, 100.0, -1.0, 0.5, 0.0), 0.0);
        let g = greeks(Put, 90.0, 100.0, 0.0, 0.5, 0.0);
        assert_eq!((g.delta, g.gamma, g.vega, g.theta), (-1.0, 0.0, 0.0, 0.0));
        assert!(close(years_between(0, 86_400_000_000_000 * 365), 1.0, 1e-15));
    }
}
