//! A pure-Rust `exp` for the softmax.
//!
//! Two reasons not to call the platform's libm here:
//! - **Speed.** After faer's AVX-512 matrix kernels have run, the upper halves of the vector
//!   registers can stay "dirty", and each call into glibc's AVX2/FMA `exp` then pays a state
//!   transition: measured here at about 165 ns per call instead of 5 ns (30x), which made
//!   training with mini-batches of 64 or more five times slower. Plain Rust code (SSE2) does
//!   not pay this.
//! - **Portability.** The result depends only on IEEE-754 double arithmetic (no fused
//!   multiply-add, no table), so training does not depend on the libm version.

/// `ln 2` split in two, given by bit pattern: the high part (0.6931471803691238) has 21
/// trailing zero bits in its significand, so `k * LN2_HI` is exact for `|k| < 2^21`; the low
/// part (1.9082149292705877e-10) is `ln 2 - LN2_HI` rounded to double.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// `1.5 * 2^52`: adding and subtracting it rounds to the nearest integer (ties to even) for
/// arguments below `2^51` in magnitude, without calling libm's `round`.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;
/// Above this, `exp` overflows to infinity; below [`EXP_MIN_ARG`], it underflows to zero.
const EXP_MAX_ARG: f64 = 709.782_712_893_384;
const EXP_MIN_ARG: f64 = -745.133_219_101_941_1;

/// `e^x`, within one unit in the last place of libm's result (checked in the tests).
///
/// Method: `x = k ln2 + r` with integer `k` and `|r| <= ln2 / 2`, `e^r` by its Taylor series to
/// degree 13 (truncation error below 1e-17 relative), then scaling by `2^k` via the exponent
/// bits. NaN gives NaN, large arguments infinity, very negative ones zero.
pub(crate) fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > EXP_MAX_ARG {
        return f64::INFINITY;
    }
    if x < EXP_MIN_ARG {
        return 0.0;
    }
    let k = (x * std::f64::consts::LOG2_E + ROUND_MAGIC) - ROUND_MAGIC;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // e^r = 1 + (r + r^2 q(r)) with q(r) = sum_{n=2}^{13} r^(n-2) / n! in Horner form; adding
    // the 1 last keeps the rounding errors of the series small relative to the result.
    const C: [f64; 12] = [
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    let mut q = C[11];
    for &c in C[..11].iter().rev() {
        q = q * r + c;
    }
    let p = 1.0 + (r + (r * r) * q);
    // k is in [-1075, 1024]; split 2^k in two factors that are both normal numbers, so the only
    // rounding happens in the last product (which may be subnormal).
    let k = k as i64;
    let half = k / 2;
    p * pow2(half) * pow2(k - half)
}

/// `2^k` for `k` in the normal exponent range `[-1022, 1023]`.
fn pow2(k: i64) -> f64 {
    debug_assert!((-1022..=1023).contains(&k));
    f64::from_bits(((k + 1023) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> u64 {
        a.to_bits().abs_diff(b.to_bits())
    }

    #[test]
    fn matches_std_exp_within_a_few_ulps() {
        let mut worst = 0;
        let mut x = -745.0;
        while x < 709.7 {
            let (got, want) = (exp(x), x.exp());
            if want >= f64::MIN_POSITIVE {
                worst = worst.max(ulps(got, want));
            } else {
                // Subnormal results: absolute error of at most a couple of subnormal steps.
                assert!(ulps(got, want) <= 2, "exp({x}) = {got}, std {want}");
            }
            x += 0.012_345_678_9;
        }
        for i in -2000..=2000 {
            let x = f64::from(i) * 1e-4;
            worst = worst.max(ulps(exp(x), x.exp()));
        }
        assert!(worst <= 1, "worst error {worst} ulp");
    }

    #[test]
    fn ln2_split_is_exact_enough() {
        assert_eq!(LN2_HI.to_bits() & 0x1f_ffff, 0);
        assert_eq!(LN2_HI + LN2_LO, std::f64::consts::LN_2);
        // The low part lies below the high part's last kept bit (2^-32).
        assert!(LN2_LO.abs() < 1.0 / 4_294_967_296.0);
    }

    #[test]
    fn special_values() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        assert!(ulps(exp(1.0), std::f64::consts::E) <= 1);
        assert!(ulps(exp(-1.0), 1.0 / std::f64::consts::E) <= 1);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp(710.0), f64::INFINITY);
        assert_eq!(exp(-746.0), 0.0);
        assert!(exp(f64::NAN).is_nan());
        assert!(exp(709.78) < f64::INFINITY);
        assert!(exp(-745.0) > 0.0);
    }
}
