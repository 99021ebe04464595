//! The statistical dimension of the L1 descent cone: where basis pursuit starts to succeed
//! (`reference/ecc-math.md` A.7; Amelunxen, Lotz, McCoy, Tropp 2014).

use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// `erfc(x)` to about 1e-15 relative: the all-positive series
/// `erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (2n+1)!!` below 1.5, the continued fraction
/// `erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))` above.
fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 1.5 {
        let x2 = x * x;
        let mut term = x;
        let mut sum = x;
        let mut n = 0.0;
        while term > 1e-17 * sum {
            n += 1.0;
            term *= 2.0 * x2 / (2.0 * n + 1.0);
            sum += term;
        }
        1.0 - 2.0 / PI.sqrt() * (-x2).exp() * sum
    } else {
        let mut t = x;
        for k in (1..=160).rev() {
            t = x + 0.5 * f64::from(k) / t;
        }
        (-x * x).exp() / (PI.sqrt() * t)
    }
}

/// Upper tail of the standard normal, `Q(t) = P(g > t)`.
fn q_tail(t: f64) -> f64 {
    0.5 * erfc(t * FRAC_1_SQRT_2)
}

/// Standard normal density.
fn phi(t: f64) -> f64 {
    (-0.5 * t * t).exp() / (2.0 * PI).sqrt()
}

/// The statistical dimension `D(s, N)` of the L1 descent cone at an `s`-sparse point of
/// `R^N`:
///
/// ```text
/// D(s, N) = min_{tau >= 0} s (1 + tau^2) + (N - s) psi(tau),
/// psi(tau) = E[(|g| - tau)_+^2] = 2 [(1 + tau^2) Q(tau) - tau phi(tau)],
/// ```
///
/// minimised by bisection on the optimality condition `s tau = 2 (N - s) [phi(tau) - tau Q(tau)]`.
/// Basis pursuit with a Gaussian `p x N` measurement matrix recovers a fixed `s`-sparse
/// error with probability about 1/2 at `p = D(s, N)`, and almost surely a few `sqrt(N)`
/// above (the Donoho-Tanner weak threshold). `D(0, N) = 0`, `D(s >= N, N) = N`.
///
/// ```
/// use xbar_correct::repair::statistical_dimension;
/// let d = statistical_dimension(10, 3584);
/// assert!((d - 79.2).abs() < 0.1);
/// ```
pub fn statistical_dimension(s: usize, n: usize) -> f64 {
    if s == 0 {
        return 0.0;
    }
    if s >= n {
        return n as f64;
    }
    let (sf, rest) = (s as f64, (n - s) as f64);
    // f is increasing: phi(t) - t Q(t) = E[(g - t)_+] decreases.
    let f = |t: f64| sf * t - 2.0 * rest * (phi(t) - t * q_tail(t));
    let (mut lo, mut hi) = (0.0f64, 10.0f64);
    while f(hi) < 0.0 {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if f(mid) < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-15 * hi {
            break;
        }
    }
    let t = 0.5 * (lo + hi);
    let psi = 2.0 * ((1.0 + t * t) * q_tail(t) - t * phi(t));
    sf * (1.0 + t * t) + rest * psi
}

/// The design rule of `reference/ecc-math.md` A.8: the number of Gaussian (type-1) checks for
/// L1 decoding of `s` errors among `n` unknowns with near-certain success,
/// `K = ceil(D(s, n) + 0.5 sqrt(n))`.
///
/// ```
/// use xbar_correct::repair::k_for;
/// assert_eq!(k_for(10, 3584), 110);
/// ```
pub fn k_for(s: usize, n: usize) -> usize {
    (statistical_dimension(s, n) + 0.5 * (n as f64).sqrt()).ceil() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_matches_known_values() {
        // erfc values from the closed forms' standard tables.
        let cases = [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (2.0, 4.677_734_981_047_265e-3),
            (2.9, 4.109_787_809_945_886e-5),
            (3.0, 2.209_049_699_858_544e-5),
            (4.0, 1.541_725_790_028_002e-8),
            (6.0, 2.151_973_671_249_891_3e-17),
        ];
        for (x, want) in cases {
            let got = erfc(x);
            assert!(
                ((got - want) / want).abs() < 1e-12,
                "erfc({x}) = {got}, want {want}"
            );
        }
        assert!((erfc(-1.0) - (2.0 - 0.157_299_207_050_285_13)).abs() < 1e-15);
    }

    #[test]
    fn table_values_of_the_reference_note() {
        let cases = [
            (1, 3584, 11.5),
            (10, 3584, 79.2),
            (20, 3584, 138.6),
            (50, 3584, 283.9),
            (100, 3584, 478.7),
            (100, 10_000, 612.4),
            (10, 65_536, 124.2),
        ];
        for (s, n, want) in cases {
            let d = statistical_dimension(s, n);
            assert!((d - want).abs() < 0.1, "D({s}, {n}) = {d}, want {want}");
        }
        assert_eq!(statistical_dimension(0, 100), 0.0);
        assert_eq!(statistical_dimension(100, 100), 100.0);
        // Monotone in s.
        let mut last = 0.0;
        for s in 1..50 {
            let d = statistical_dimension(s, 1000);
            assert!(d > last);
            last = d;
        }
    }

    #[test]
    fn design_rule() {
        assert_eq!(k_for(10, 3584), 110);
        assert_eq!(k_for(20, 3584), 169);
        assert_eq!(k_for(50, 3584), 314);
    }
}
