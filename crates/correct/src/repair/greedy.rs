//! Greedy fast paths: the single-error correlation decoder and orthogonal matching pursuit.

use faer::MatRef;

use super::qr::{ActiveQr, axpy, dot, norm2};
use super::{Decoded, Decoder, Problem, RepairConfig, finish};
use crate::CorrectError;

/// Single-error decoding: for `e = v e_t` the syndrome is `v M_t`, so take the column with the
/// largest normalised correlation `|<sigma, M_t>| / ||M_t||`, `v = <sigma, M_t> / ||M_t||^2`,
/// and accept only if the residual is at noise level (`Recovered`); a zero syndrome (at noise
/// level) is recovered as no error.
///
/// ```
/// use xbar_correct::repair::{RepairConfig, Status, gaussian_instance, single_error};
/// let inst = gaussian_instance(30, 200, 1, 5);
/// let out = single_error(inst.m.as_ref(), &inst.sigma, &RepairConfig::default())?;
/// assert_eq!(out.status, Status::Recovered);
/// assert_eq!(out.support, inst.e0.iter().position(|&v| v != 0.0).into_iter().collect::<Vec<_>>());
/// # Ok::<(), xbar_correct::CorrectError>(())
/// ```
pub fn single_error(
    m: MatRef<'_, f64>,
    sigma: &[f64],
    cfg: &RepairConfig,
) -> Result<Decoded, CorrectError> {
    cfg.validate()?;
    let prob = Problem::new(m, sigma)?;
    Ok(single_error_impl(&prob, cfg))
}

pub(crate) fn single_error_impl(prob: &Problem<'_>, cfg: &RepairConfig) -> Decoded {
    let tol = cfg.tolerance(prob.p, prob.sigma_norm);
    let mut e = vec![0.0; prob.n];
    if prob.sigma_norm > tol {
        let mut c = vec![0.0; prob.n];
        prob.mt_times(prob.sigma, &mut c);
        let mut best = (usize::MAX, 0.0f64);
        for (j, &cj) in c.iter().enumerate() {
            let nj = norm2(prob.col(j));
            if nj > 0.0 && (cj / nj).abs() > best.1 {
                best = (j, (cj / nj).abs());
            }
        }
        if best.0 != usize::MAX {
            let j = best.0;
            let nj = norm2(prob.col(j));
            e[j] = c[j] / (nj * nj);
        }
    }
    finish(prob, e, Decoder::SingleError, 1, cfg, tol, None)
}

/// Orthogonal matching pursuit: repeatedly add the column most correlated (normalised) with
/// the residual, refit `sigma` by least squares on the chosen columns (an incremental QR, so
/// each atom costs one product `M^T r` plus `O(p k)`), and stop when the residual is at noise
/// level or `max_support` atoms are in. Fast and exact well below the L1 threshold; it needs
/// somewhat more checks than L1 at large `s`, so the cascade falls back to the homotopy.
///
/// ```
/// use xbar_correct::repair::{RepairConfig, Status, gaussian_instance, omp};
/// let inst = gaussian_instance(60, 400, 5, 11);
/// let out = omp(inst.m.as_ref(), &inst.sigma, &RepairConfig::default())?;
/// assert_eq!(out.status, Status::Recovered);
/// assert_eq!(out.support_size, 5);
/// # Ok::<(), xbar_correct::CorrectError>(())
/// ```
pub fn omp(m: MatRef<'_, f64>, sigma: &[f64], cfg: &RepairConfig) -> Result<Decoded, CorrectError> {
    cfg.validate()?;
    let prob = Problem::new(m, sigma)?;
    Ok(omp_impl(&prob, cfg))
}

pub(crate) fn omp_impl(prob: &Problem<'_>, cfg: &RepairConfig) -> Decoded {
    let (p, n) = (prob.p, prob.n);
    let tol = cfg.tolerance(p, prob.sigma_norm);
    let cap = cfg.max_support.min(p);
    let inv_norms: Vec<f64> = prob
        .col_norms()
        .iter()
        .map(|&v| if v > 0.0 { 1.0 / v } else { 0.0 })
        .collect();
    let mut qr = ActiveQr::new(p, cap);
    let mut r = prob.sigma.to_vec();
    let mut c = vec![0.0; n];
    let mut excluded = vec![false; n];
    let mut rn = prob.sigma_norm;
    let mut products = 0;
    while qr.len() < cap && rn > tol && products < n {
        prob.mt_times(&r, &mut c);
        products += 1;
        let mut best = (usize::MAX, 0.0f64);
        for (j, (&cj, &inv)) in c.iter().zip(&inv_norms).enumerate() {
            let v = (cj * inv).abs();
            if !excluded[j] && v > best.1 {
                best = (j, v);
            }
        }
        let j = best.0;
        if j == usize::MAX {
            break;
        }
        excluded[j] = true;
        if !qr.push(j, prob.col(j)) {
            continue;
        }
        let qk = qr.q_col(qr.len() - 1);
        let h = dot(qk, &r);
        axpy(-h, qk, &mut r);
        rn = norm2(&r);
    }
    let mut x = vec![0.0; qr.len()];
    qr.lstsq(prob.sigma, &mut x);
    let mut e = vec![0.0; n];
    for (&j, v) in qr.indices().iter().zip(x) {
        e[j] = v;
    }
    finish(prob, e, Decoder::Omp, qr.len(), cfg, tol, None)
}
