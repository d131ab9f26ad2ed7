//! Deterministic floating point: the only transcendental functions a decision
//! may use (R9 greeks, option marks, anything journalled).
//!
//! Every function here returns the same bits on every platform and compiler
//! version (ARCHITECTURE.md, "Determinism of option maths"):
//! - [`exp`] and [`ln`] are the `libm` crate's pure-Rust ports of musl /
//!   FreeBSD msun. They never call the host's C library, and on SSE2 / NEON /
//!   wasm targets the crate dispatches to hardware only for correctly rounded
//!   operations (`sqrt`, `fma`), so the result is a fixed sequence of IEEE 754
//!   binary64 operations.
//! - [`sqrt`] is IEEE 754 `squareRoot`: correctly rounded, identical
//!   everywhere (hardware or software).
//! - [`pow10`] is an exact table (`10^0 ..= 10^22` are binary64 numbers).
//!
//! `f64::exp`, `f64::ln`, `f64::powf`, `f64::powi`, `f64::mul_add` and the
//! other libm-backed methods are banned workspace-wide (`clippy.toml`
//! `disallowed-methods`, and `tests/it/detmath_guard.rs` in this crate, which
//! runs with `cargo test`): they go to the platform's libm (glibc, musl,
//! macOS and MSVC differ in the last bit) or to compiler intrinsics whose
//! constant folding may differ from run-time code. Basic operations
//! (`+ - * /`, `as` conversions, `round`, `abs`, `max`) are exact or correctly
//! rounded; Rust never contracts `a * b + c` into a fused multiply-add.
//!
//! Not covered: 32-bit x86 without SSE2 (x87 extended precision), which no
//! supported target uses.

/// `e^x` (musl/FreeBSD `exp`, error < 1 ulp).
#[inline]
pub fn exp(x: f64) -> f64 {
    libm::exp(x)
}

/// Natural logarithm (musl/FreeBSD `log`, error < 1 ulp).
#[inline]
pub fn ln(x: f64) -> f64 {
    libm::log(x)
}

/// Square root, correctly rounded (IEEE 754).
#[inline]
pub fn sqrt(x: f64) -> f64 {
    libm::sqrt(x)
}

/// `10^0 ..= 10^22`: every one is exactly representable in binary64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// `10^n`: exact for `n <= 22`; beyond, a fixed product of exact factors
/// (rounded, but the same bits everywhere; infinite from `n = 309`).
pub fn pow10(n: u32) -> f64 {
    let mut n = n as usize;
    let mut v = 1.0;
    while n > 22 {
        v *= POW10[22];
        n -= 22;
    }
    v * POW10[n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pow10_is_exact_where_binary64_can_be() {
        for n in 0..=22u32 {
            let want: f64 = format!("1e{n}").parse().unwrap();
            assert_eq!(pow10(n).to_bits(), want.to_bits(), "10^{n}");
        }
        assert_eq!(pow10(44), 1e22 * 1e22);
        assert!(pow10(309).is_infinite() && pow10(u32::MAX).is_infinite());
    }

    #[test]
    fn exp_and_ln_pinned_bits() {
        // (x, f(x) bits computed with `libm` 0.2.16, f(x) to 40 digits from
        // mpmath 1.3 at 40 significant digits). The bits are pinned: a change
        // of any bit is a change of decisions (R9 limits, option marks) and
        // must be deliberate. All but e^1 are the correctly rounded value;
        // e^1 is 1 ulp above it (glibc returns `f64::consts::E`): exactly the
        // kind of platform difference this module exists to remove.
        let cases: [(&str, f64, u64, &str); 4] = [
            ("exp(1)", exp(1.0), 0x4005_bf0a_8b14_576a, "2.718281828459045235360287471352662497757"),
            ("exp(-0.075)", exp(-0.075), 0x3fed_b013_1b9b_7607, "0.9277434863285528947917484081345511023083"),
            ("ln(2)", ln(2.0), 0x3fe6_2e42_fefa_39ef, "0.6931471805599453094172321214581765680755"),
            (
                "ln(65000/70000)",
                ln(65_000.0 / 70_000.0),
                0xbfb2_f8bd_74c5_eacd,
                "-0.07410797215372184430838897333122164796488",
            ),
        ];
        for (name, got, bits, reference) in cases {
            let reference: f64 = reference.parse().unwrap();
            assert!((got - reference).abs() <= f64::EPSILON * reference.abs(), "{name}: {got} vs {reference}");
            assert_eq!(got.to_bits(), bits, "{name}: {got} is {:#018x}", got.to_bits());
        }
        assert_eq!(sqrt(2.0), std::f64::consts::SQRT_2);
        assert_eq!((exp(0.0), ln(1.0)), (1.0, 0.0));
        assert!(ln(0.0) == f64::NEG_INFINITY && ln(-1.0).is_nan() && exp(1000.0).is_infinite());
    }
}
