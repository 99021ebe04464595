//! L1 / LP repair of memory errors protected by a real-number code (`reference/ecc-math.md`
//! A.5-A.7, DESIGN.md section 3.6).
//!
//! A group of weights `w` (length `N`) satisfies `p` linear checks `M w = 0`. A sparse memory
//! error `e` (`w~ = w + e`) shows in the **syndrome** `sigma = M w~ = M e`, and is decoded by
//! basis pursuit
//!
//! ```text
//! min ||e||_1  s.t.  M e = sigma        (P1)
//! ```
//!
//! which returns the true error when it is sparse enough: about `p >= D(s, N)` checks for
//! `s` errors ([`statistical_dimension`], [`k_for`]). The decoders are generic over a dense
//! `p x N` matrix `M` (a [`faer::MatRef`]; for the paper's 256x14 groups, `M` stacks `K`
//! Gaussian rows and 14 column sums, [`group_matrix`]).
//!
//! | decoder | what | cost per 256x14 group |
//! |---|---|---|
//! | [`single_error`] | the column best correlated with `sigma` | one `M^T sigma` |
//! | [`omp`] | orthogonal matching pursuit, up to `max_support` atoms | `s` products `M^T r` |
//! | [`homotopy`] | the exact L1 solution along the LASSO path to `lambda = 0` | `~s..2s` steps of `O(p N)` |
//! | [`clarabel()`] | the LP (P1) with Clarabel, dual or split form | seconds |
//! | [`clarabel_noisy`] | `min ||e||_1 s.t. ||M e - sigma|| <= eps`, l2 (SOC) or l_inf | seconds |
//! | [`clarabel_joint`] | memory + datapath errors (P2) over several groups | seconds |
//! | [`erasure`] | least squares on a known defect map | `O(p k^2)` |
//!
//! Every decoder ends with the same post-processing: zero entries below the threshold, debias
//! by least squares on the remaining support, recompute the residual `||M e - sigma||_2`, and
//! set a [`Status`]:
//!
//! - [`Status::Recovered`]: the support is within the design bound `max_support`, the residual
//!   is at noise level, and `support + max_support <= p`, so no other error of at most
//!   `max_support` entries has the same syndrome (for `M` in general position): apply it.
//! - [`Status::Partial`]: a sparse correction that explains the syndrome only in part (residual
//!   above the tolerance but below `partial_fraction ||sigma||`), or that cannot be certified
//!   unique; a best effort, re-read or re-program advised.
//! - [`Status::Uncorrectable`]: support beyond the design bound, or the residual stays large:
//!   **do not apply** [`Decoded::e`] (re-read, re-program the group). [`Decoded::correction`]
//!   returns `None` then.
//!
//! [`decode`] is the cascade single-error -> OMP -> homotopy -> (optional) Clarabel that stops
//! at the first `Recovered` and says which decoder answered.
//!
//! ```
//! use xbar_correct::repair::{Decoder, RepairConfig, Status, decode, gaussian_instance};
//! // 60 Gaussian checks on 400 unknowns, 4 errors: well below the L1 threshold.
//! let inst = gaussian_instance(60, 400, 4, 7);
//! let cfg = RepairConfig { max_support: 8, ..RepairConfig::default() };
//! let out = decode(inst.m.as_ref(), &inst.sigma, &cfg)?;
//! assert_eq!(out.status, Status::Recovered);
//! assert!(matches!(out.decoder, Decoder::Omp | Decoder::Homotopy));
//! let err: f64 = out.e.iter().zip(&inst.e0).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
//! assert!(err < 1e-9);
//! # Ok::<(), xbar_correct::CorrectError>(())
//! ```

mod config;
mod erasure;
mod greedy;
mod homotopy;
mod instance;
mod lp;
mod qr;
mod sd;

pub use config::{ConfigIssue, LpForm, RepairConfig};
pub use erasure::erasure;
pub use greedy::{omp, single_error};
pub use homotopy::homotopy;
pub use instance::{
    GROUP_INPUTS, GROUP_N, GROUP_OUTPUTS, Instance, Method, Trial, export_lp, gaussian_instance,
    group_instance, group_matrix, phase_trial, run_trial, sparse_error, trial_success,
};
pub use lp::{JointDecoded, JointGroup, NoiseBall, clarabel, clarabel_joint, clarabel_noisy};
pub use sd::{k_for, statistical_dimension};

use faer::{Accum, Mat, MatMut, MatRef, Par};
use serde::{Deserialize, Serialize};

use crate::CorrectError;
use qr::{ActiveQr, norm2};

/// Outcome of a decoding (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// A certified correction: apply it.
    Recovered,
    /// A best-effort sparse correction that does not fully explain the syndrome, or is not
    /// certified unique.
    Partial,
    /// No trustworthy correction: do not apply [`Decoded::e`].
    Uncorrectable,
}

/// The decoder that produced a [`Decoded`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decoder {
    /// Normalised correlation with one column ([`single_error`]).
    SingleError,
    /// Orthogonal matching pursuit ([`omp`]).
    Omp,
    /// The exact L1 homotopy ([`homotopy`]).
    Homotopy,
    /// An LP or SOCP solved with Clarabel ([`clarabel()`], [`clarabel_noisy`], [`clarabel_joint`]).
    Clarabel,
    /// Least squares on a known support ([`erasure`]).
    Erasure,
}

/// One decoder run inside the cascade [`decode`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Which decoder.
    pub decoder: Decoder,
    /// Its outcome.
    pub status: Status,
    /// Its iterations (see [`Decoded::iterations`]).
    pub iterations: usize,
    /// Its support size after post-processing.
    pub support_size: usize,
    /// Its residual after post-processing.
    pub residual: f64,
}

/// A decoded error estimate with its verification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decoded {
    /// The error estimate `e` (length `N`), thresholded and debiased; the corrected weights are
    /// `w~ - e`. Kept for diagnostics whatever the status: apply it only if
    /// [`Decoded::correction`] is `Some`.
    pub e: Vec<f64>,
    /// The verdict.
    pub status: Status,
    /// Which decoder produced `e`.
    pub decoder: Decoder,
    /// Decoder iterations: atoms for OMP, path steps for the homotopy, interior-point
    /// iterations for Clarabel, 1 for single-error and erasure decoding.
    pub iterations: usize,
    /// `||M e - sigma||_2`.
    pub residual: f64,
    /// The residual tolerance applied ([`RepairConfig::tolerance`], or the noise radius).
    pub tolerance: f64,
    /// `||sigma||_2`.
    pub syndrome_norm: f64,
    /// Indices of the nonzero entries of `e`, ascending.
    pub support: Vec<usize>,
    /// `support.len()`.
    pub support_size: usize,
    /// Why this status, in words.
    pub message: String,
    /// The decoders tried by [`decode`], in order (empty for a single decoder).
    pub attempts: Vec<Attempt>,
}

impl Decoded {
    /// The correction to subtract, only when it is certified ([`Status::Recovered`]).
    pub fn correction(&self) -> Option<&[f64]> {
        (self.status == Status::Recovered).then_some(self.e.as_slice())
    }

    /// `status == Recovered`.
    pub fn is_recovered(&self) -> bool {
        self.status == Status::Recovered
    }

    fn attempt(&self) -> Attempt {
        Attempt {
            decoder: self.decoder,
            status: self.status,
            iterations: self.iterations,
            support_size: self.support_size,
            residual: self.residual,
        }
    }
}

/// The cascade: single-error, then OMP, then the homotopy, then (if enabled) Clarabel, each
/// only if enabled in `cfg`; returns the first `Recovered` result, otherwise the best status
/// seen (the later, more exact decoder on ties). [`Decoded::attempts`] lists what ran.
///
/// `m` is `p x N`, `sigma` has length `p`. Errors are for bad input only (shapes, non-finite
/// values, an invalid `cfg`); a failed decoding is a status.
///
/// ```
/// use xbar_correct::repair::{Decoder, RepairConfig, Status, decode, gaussian_instance};
/// let inst = gaussian_instance(40, 300, 1, 3); // one error
/// let out = decode(inst.m.as_ref(), &inst.sigma, &RepairConfig::default())?;
/// assert_eq!((out.status, out.decoder), (Status::Recovered, Decoder::SingleError));
/// # Ok::<(), xbar_correct::CorrectError>(())
/// ```
pub fn decode(
    m: MatRef<'_, f64>,
    sigma: &[f64],
    cfg: &RepairConfig,
) -> Result<Decoded, CorrectError> {
    cfg.validate()?;
    let prob = Problem::new(m, sigma)?;
    let mut attempts = Vec::new();
    let mut best: Option<Decoded> = None;
    let mut consider = |d: Decoded, attempts: &mut Vec<Attempt>| -> Option<Decoded> {
        attempts.push(d.attempt());
        if d.status == Status::Recovered {
            return Some(d);
        }
        if best.as_ref().is_none_or(|b| d.status <= b.status) {
            best = Some(d);
        }
        None
    };
    let mut done = None;
    if cfg.single_error {
        done = consider(greedy::single_error_impl(&prob, cfg), &mut attempts);
    }
    if done.is_none() && cfg.omp {
        done = consider(greedy::omp_impl(&prob, cfg), &mut attempts);
    }
    if done.is_none() && cfg.homotopy {
        done = consider(homotopy::homotopy_impl(&prob, cfg), &mut attempts);
    }
    if done.is_none() && cfg.clarabel {
        done = consider(
            lp::clarabel_impl(&prob, cfg.clarabel_form, cfg)?,
            &mut attempts,
        );
    }
    let mut out = match done {
        Some(d) => d,
        None => best.ok_or_else(|| CorrectError::Invalid {
            what: "no decoder enabled".into(),
        })?,
    };
    out.attempts = attempts;
    Ok(out)
}

/// Runs one decoder, or the cascade, by name (for experiments and benchmarks).
///
/// ```
/// use xbar_correct::repair::{Method, RepairConfig, decode_with, gaussian_instance};
/// let inst = gaussian_instance(50, 300, 3, 1);
/// let out = decode_with(Method::Homotopy, inst.m.as_ref(), &inst.sigma, &RepairConfig::default())?;
/// assert!(out.is_recovered());
/// # Ok::<(), xbar_correct::CorrectError>(())
/// ```
pub fn decode_with(
    method: Method,
    m: MatRef<'_, f64>,
    sigma: &[f64],
    cfg: &RepairConfig,
) -> Result<Decoded, CorrectError> {
    match method {
        Method::Cascade => decode(m, sigma, cfg),
        Method::SingleError => single_error(m, sigma, cfg),
        Method::Omp => omp(m, sigma, cfg),
        Method::Homotopy => homotopy(m, sigma, cfg),
        Method::Clarabel => clarabel(m, sigma, LpForm::Dual, cfg),
        Method::ClarabelSplit => clarabel(m, sigma, LpForm::Split, cfg),
    }
}

/// A checked `p x N` problem with contiguous columns.
pub(crate) struct Problem<'a> {
    /// Borrowed when `m` already has unit row stride, else a column-major copy.
    owned: Option<Mat<f64>>,
    borrowed: MatRef<'a, f64>,
    pub(crate) sigma: &'a [f64],
    pub(crate) p: usize,
    pub(crate) n: usize,
    pub(crate) sigma_norm: f64,
}

impl<'a> Problem<'a> {
    pub(crate) fn new(m: MatRef<'a, f64>, sigma: &'a [f64]) -> Result<Problem<'a>, CorrectError> {
        let (p, n) = (m.nrows(), m.ncols());
        if p == 0 || n == 0 {
            return Err(CorrectError::Invalid {
                what: format!("an empty {p} x {n} check matrix"),
            });
        }
        if sigma.len() != p {
            return Err(CorrectError::Invalid {
                what: format!("a syndrome of length {} for {p} checks", sigma.len()),
            });
        }
        if let Some(i) = sigma.iter().position(|v| !v.is_finite()) {
            return Err(CorrectError::Invalid {
                what: format!("syndrome entry {i} is {}", sigma[i]),
            });
        }
        let owned = if m.row_stride() == 1 {
            None
        } else {
            Some(m.to_owned())
        };
        let prob = Problem {
            owned,
            borrowed: m,
            sigma,
            p,
            n,
            sigma_norm: norm2(sigma),
        };
        for j in 0..n {
            if let Some(i) = prob.col(j).iter().position(|v| !v.is_finite()) {
                return Err(CorrectError::Invalid {
                    what: format!("check matrix entry ({i}, {j}) is {}", prob.col(j)[i]),
                });
            }
        }
        Ok(prob)
    }

    /// The matrix (unit row stride).
    pub(crate) fn mat(&self) -> MatRef<'_, f64> {
        match &self.owned {
            Some(m) => m.as_ref(),
            None => self.borrowed,
        }
    }

    /// Column `j` as a slice.
    pub(crate) fn col(&self, j: usize) -> &[f64] {
        match &self.owned {
            Some(m) => m.col_as_slice(j),
            None => self
                .borrowed
                .col(j)
                .try_as_col_major()
                .expect("unit row stride checked in Problem::new")
                .as_slice(),
        }
    }

    /// `out = M^T v` (`v` length `p`, `out` length `N`), sequential.
    pub(crate) fn mt_times(&self, v: &[f64], out: &mut [f64]) {
        faer::linalg::matmul::matmul(
            MatMut::from_column_major_slice_mut(out, self.n, 1),
            Accum::Replace,
            self.mat().transpose(),
            MatRef::from_column_major_slice(v, self.p, 1),
            1.0,
            Par::Seq,
        );
    }

    /// Column norms `||M_j||_2`.
    pub(crate) fn col_norms(&self) -> Vec<f64> {
        (0..self.n).map(|j| norm2(self.col(j))).collect()
    }

    /// `||M e - sigma||_2` for an `e` supported on `support`.
    pub(crate) fn residual(&self, e: &[f64], support: &[usize], scratch: &mut [f64]) -> f64 {
        scratch.copy_from_slice(self.sigma);
        for &j in support {
            qr::axpy(-e[j], self.col(j), scratch);
        }
        norm2(scratch)
    }
}

/// Zeroes `|e_i| < threshold_abs + threshold_rel max |e|` (and non-finite entries) and returns
/// the remaining support.
pub(crate) fn threshold(e: &mut [f64], cfg: &RepairConfig) -> Vec<usize> {
    let emax = e
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |a, v| a.max(v.abs()));
    let eta = cfg.threshold_abs + cfg.threshold_rel * emax;
    let mut support = Vec::new();
    for (i, v) in e.iter_mut().enumerate() {
        if !v.is_finite() || v.abs() < eta || *v == 0.0 {
            *v = 0.0;
        } else {
            support.push(i);
        }
    }
    support
}

/// The status for a support of `k` entries with a bound `max_support` on `p` checks.
pub(crate) fn classify(
    k: usize,
    max_support: usize,
    p: usize,
    residual: f64,
    tol: f64,
    partial_fraction: f64,
    sigma_norm: f64,
) -> (Status, String) {
    if k > max_support {
        return (
            Status::Uncorrectable,
            format!("support {k} exceeds the design bound {max_support}"),
        );
    }
    if residual <= tol {
        if k + max_support <= p {
            (
                Status::Recovered,
                format!("support {k}, residual {residual:.3e} <= tolerance {tol:.3e}"),
            )
        } else {
            (
                Status::Partial,
                format!(
                    "support {k} + design bound {max_support} exceeds the {p} checks: the sparse solution is not certified unique"
                ),
            )
        }
    } else if residual <= partial_fraction * sigma_norm {
        (
            Status::Partial,
            format!(
                "residual {residual:.3e} above tolerance {tol:.3e} (syndrome norm {sigma_norm:.3e})"
            ),
        )
    } else {
        (
            Status::Uncorrectable,
            format!(
                "residual {residual:.3e} stays above tolerance {tol:.3e} (syndrome norm {sigma_norm:.3e})"
            ),
        )
    }
}

/// Largest support the debias step will factor (beyond, the estimate is uncorrectable anyway).
fn debias_limit(p: usize, max_support: usize) -> usize {
    p.min((2 * max_support).max(max_support + 32))
}

/// Least squares of `sigma` on the columns `support`; `None` if they are dependent.
pub(crate) fn lstsq_on(prob: &Problem<'_>, support: &[usize]) -> Option<Vec<f64>> {
    let mut qr = ActiveQr::new(prob.p, support.len());
    for &j in support {
        if !qr.push(j, prob.col(j)) {
            return None;
        }
    }
    let mut x = vec![0.0; support.len()];
    qr.lstsq(prob.sigma, &mut x);
    Some(x)
}

/// The shared post-processing: threshold, debias on the support (twice if the support
/// shrinks), residual, status.
pub(crate) fn finish(
    prob: &Problem<'_>,
    mut e: Vec<f64>,
    decoder: Decoder,
    iterations: usize,
    cfg: &RepairConfig,
    tol: f64,
    note: Option<String>,
) -> Decoded {
    let mut support = threshold(&mut e, cfg);
    let limit = debias_limit(prob.p, cfg.max_support);
    let mut rank_note = None;
    for _round in 0..3 {
        if support.is_empty() || support.len() > limit {
            break;
        }
        match lstsq_on(prob, &support) {
            Some(x) => {
                for (&j, v) in support.iter().zip(x) {
                    e[j] = v;
                }
            }
            None => {
                rank_note = Some("the support's columns are numerically dependent".to_string());
                break;
            }
        }
        let next = threshold(&mut e, cfg);
        if next == support {
            break;
        }
        support = next;
    }
    let mut scratch = vec![0.0; prob.p];
    let residual = prob.residual(&e, &support, &mut scratch);
    let (mut status, mut message) = classify(
        support.len(),
        cfg.max_support,
        prob.p,
        residual,
        tol,
        cfg.partial_fraction,
        prob.sigma_norm,
    );
    if let Some(r) = rank_note {
        if status == Status::Recovered {
            status = Status::Partial;
        }
        message = format!("{message}; {r}");
    }
    if let Some(n) = note {
        message = format!("{message}; {n}");
    }
    Decoded {
        e,
        status,
        decoder,
        iterations,
        residual,
        tolerance: tol,
        syndrome_norm: prob.sigma_norm,
        support_size: support.len(),
        support,
        message,
        attempts: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::instance::success_count;
    use super::*;

    fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    fn cfg(max_support: usize) -> RepairConfig {
        RepairConfig {
            max_support,
            ..RepairConfig::default()
        }
    }

    #[test]
    fn every_decoder_recovers_a_sparse_error_below_the_threshold() {
        // D(6, 400) is about 41; 80 checks are well above.
        let inst = gaussian_instance(80, 400, 6, 21);
        let c = cfg(12);
        let m = inst.m.as_ref();
        for (name, d) in [
            ("omp", omp(m, &inst.sigma, &c).unwrap()),
            ("homotopy", homotopy(m, &inst.sigma, &c).unwrap()),
            (
                "clarabel",
                clarabel(m, &inst.sigma, LpForm::Dual, &c).unwrap(),
            ),
            (
                "split",
                clarabel(m, &inst.sigma, LpForm::Split, &c).unwrap(),
            ),
            ("cascade", decode(m, &inst.sigma, &c).unwrap()),
        ] {
            assert_eq!(d.status, Status::Recovered, "{name}: {}", d.message);
            assert!(max_abs_diff(&d.e, &inst.e0) < 1e-6, "{name}");
            assert_eq!(d.support_size, 6, "{name}");
            assert!(d.residual <= d.tolerance, "{name}");
            assert!(d.correction().is_some());
        }
        let one = gaussian_instance(80, 400, 1, 22);
        let d = single_error(one.m.as_ref(), &one.sigma, &c).unwrap();
        assert_eq!(d.status, Status::Recovered);
        assert!(max_abs_diff(&d.e, &one.e0) < 1e-12);
        // Single-error decoding refuses two errors instead of mislocating them.
        let two = gaussian_instance(80, 400, 2, 23);
        let d = single_error(two.m.as_ref(), &two.sigma, &c).unwrap();
        assert_ne!(d.status, Status::Recovered);
    }

    #[test]
    fn cascade_reports_who_answered() {
        let c = cfg(10);
        let one = gaussian_instance(60, 300, 1, 1);
        let d = decode(one.m.as_ref(), &one.sigma, &c).unwrap();
        assert_eq!(d.decoder, Decoder::SingleError);
        assert_eq!(d.attempts.len(), 1);
        let five = gaussian_instance(60, 300, 5, 1);
        let d = decode(five.m.as_ref(), &five.sigma, &c).unwrap();
        assert!(d.is_recovered());
        assert_eq!(d.attempts[0].decoder, Decoder::SingleError);
        assert_ne!(d.attempts[0].status, Status::Recovered);
        assert_eq!(d.attempts.last().unwrap().decoder, d.decoder);
        // Only the homotopy enabled.
        let h = RepairConfig {
            single_error: false,
            omp: false,
            ..c
        };
        let d = decode(five.m.as_ref(), &five.sigma, &h).unwrap();
        assert_eq!(d.decoder, Decoder::Homotopy);
        assert_eq!(d.attempts.len(), 1);
    }

    #[test]
    fn far_above_the_threshold_is_uncorrectable() {
        // D(40, 300) is about 170 >> 50 checks: the L1 solution is dense, not the error.
        let c = cfg(10);
        for seed in 0..3 {
            let inst = gaussian_instance(50, 300, 40, seed);
            let m = inst.m.as_ref();
            for d in [
                single_error(m, &inst.sigma, &c).unwrap(),
                omp(m, &inst.sigma, &c).unwrap(),
                homotopy(m, &inst.sigma, &c).unwrap(),
                decode(m, &inst.sigma, &c).unwrap(),
            ] {
                assert_eq!(
                    d.status,
                    Status::Uncorrectable,
                    "{:?}: {}",
                    d.decoder,
                    d.message
                );
                assert!(d.correction().is_none());
            }
        }
        let inst = gaussian_instance(50, 300, 40, 9);
        let d = clarabel(inst.m.as_ref(), &inst.sigma, LpForm::Dual, &c).unwrap();
        assert_eq!(d.status, Status::Uncorrectable, "{}", d.message);
    }

    #[test]
    fn homotopy_solves_the_lp_exactly() {
        // Feasibility and optimality against Clarabel, below, near and above the threshold.
        let c = RepairConfig {
            max_support: 20,
            early_exit: false,
            ..RepairConfig::default()
        };
        for (s, seed) in [(4, 0), (10, 1), (14, 2), (18, 3), (25, 4)] {
            let inst = gaussian_instance(40, 120, s, seed);
            let m = inst.m.as_ref();
            let h = homotopy(m, &inst.sigma, &c).unwrap();
            let l = clarabel(m, &inst.sigma, LpForm::Dual, &c).unwrap();
            let l1 = |e: &[f64]| e.iter().map(|v| v.abs()).sum::<f64>();
            // Both satisfy M e = sigma (the homotopy's raw iterate, before any debias, too).
            let mut scratch = vec![0.0; 40];
            let all: Vec<usize> = (0..120).collect();
            let prob = Problem::new(m, &inst.sigma).unwrap();
            assert!(prob.residual(&h.e, &all, &mut scratch) < 1e-8 * (1.0 + h.syndrome_norm));
            assert!(prob.residual(&l.e, &all, &mut scratch) < 1e-5 * (1.0 + l.syndrome_norm));
            let (a, b) = (l1(&h.e), l1(&l.e));
            assert!((a - b).abs() <= 1e-6 * (1.0 + b), "s {s}: L1 {a} vs {b}");
            assert!(max_abs_diff(&h.e, &l.e) < 1e-5, "s {s}: solutions differ");
        }
    }

    #[test]
    fn cascade_is_at_least_as_good_as_each_decoder_near_the_threshold() {
        // N = 200, p = 50: D(12, 200) is about 43, near the L1 transition. (With Gaussian
        // values OMP can beat L1 at these sizes; the cascade takes whichever certifies.)
        let c = RepairConfig {
            max_support: 20,
            ..RepairConfig::default()
        };
        let h = success_count(50, 200, 12, 10, Method::Homotopy, &c);
        let o = success_count(50, 200, 12, 10, Method::Omp, &c);
        let all = success_count(50, 200, 12, 10, Method::Cascade, &c);
        assert!(all >= h.max(o), "cascade {all}, homotopy {h}, omp {o}");
        assert!(h >= 5, "homotopy {h}/10");
    }

    #[test]
    fn decoding_is_deterministic() {
        let c = cfg(12);
        let a = gaussian_instance(60, 300, 8, 5);
        let b = gaussian_instance(60, 300, 8, 5);
        assert_eq!(a.sigma, b.sigma);
        for method in [Method::Cascade, Method::Omp, Method::Homotopy] {
            let x = decode_with(method, a.m.as_ref(), &a.sigma, &c).unwrap();
            let y = decode_with(method, b.m.as_ref(), &b.sigma, &c).unwrap();
            let bits = |d: &Decoded| d.e.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&x), bits(&y));
            assert_eq!(x.residual.to_bits(), y.residual.to_bits());
        }
        assert_ne!(gaussian_instance(60, 300, 8, 6).sigma, a.sigma);
    }

    #[test]
    fn strided_matrices_give_the_same_answer() {
        let inst = gaussian_instance(40, 150, 4, 2);
        let t = inst.m.transpose().to_owned(); // N x p, so t.transpose() has row stride N
        let c = cfg(8);
        let x = homotopy(inst.m.as_ref(), &inst.sigma, &c).unwrap();
        let y = homotopy(t.transpose(), &inst.sigma, &c).unwrap();
        assert_eq!(x.e, y.e);
    }

    #[test]
    fn zero_syndrome_is_no_error() {
        let inst = gaussian_instance(30, 100, 0, 1);
        for method in [
            Method::Cascade,
            Method::SingleError,
            Method::Omp,
            Method::Homotopy,
            Method::Clarabel,
        ] {
            let d = decode_with(method, inst.m.as_ref(), &inst.sigma, &cfg(5)).unwrap();
            assert_eq!(d.status, Status::Recovered, "{method:?}");
            assert_eq!(d.support_size, 0);
            assert!(d.e.iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let inst = gaussian_instance(10, 30, 2, 1);
        let c = cfg(3);
        assert!(decode(inst.m.as_ref(), &inst.sigma[..9], &c).is_err());
        let mut nan = inst.sigma.clone();
        nan[3] = f64::NAN;
        assert!(homotopy(inst.m.as_ref(), &nan, &c).is_err());
        let bad = RepairConfig {
            rel_tol: 0.0,
            noise_std: f64::NAN,
            max_support: 0,
            single_error: false,
            omp: false,
            homotopy: false,
            ..c
        };
        match bad.validate() {
            Err(CorrectError::Config { issues }) => {
                assert_eq!(issues.len(), 4, "{issues:?}");
                let text = CorrectError::Config { issues }.to_string();
                assert!(
                    text.contains("rel-tol") && text.contains("noise-std"),
                    "{text}"
                );
            }
            other => panic!("expected a config error, got {other:?}"),
        }
        assert!(decode(inst.m.as_ref(), &inst.sigma, &bad).is_err());
        assert!(erasure(inst.m.as_ref(), &inst.sigma, &[31], &c).is_err());
    }

    #[test]
    fn config_round_trips_through_serde_names() {
        let c = RepairConfig::default();
        assert!(c.validate().is_ok());
        assert_eq!(c.step_limit(100), 500);
        assert!((c.tolerance(10, 2.0) - 2e-9).abs() < 1e-20);
        let noisy = RepairConfig {
            noise_std: 1.0,
            ..c
        };
        assert!((noisy.noise_radius(8) - (8.0f64 + 12.0).sqrt()).abs() < 1e-12);
    }
}
