//! Erasure decoding: the error positions are known (a defect map), only the values are not.

use faer::MatRef;

use super::qr::ActiveQr;
use super::{Decoded, Decoder, Problem, RepairConfig, Status};
use crate::CorrectError;

/// Least squares `min ||M_S e_S - sigma||_2` on a known support `S` (for example the cells of a
/// defect map). Needs only `|S| <= p` independent columns, so it recovers far more errors than
/// the L1 decoders (up to `p` instead of about the `s` with `D(s, N) <= p`).
///
/// `Uncorrectable` when `|S| > p` or the columns of `S` are numerically dependent (the values
/// are then not determined), or when the residual stays above the tolerance (errors outside the
/// map); `Partial` for a residual between the tolerance and `partial_fraction ||sigma||`.
/// `max_support` does not apply: the support is given. Duplicate indices count once.
///
/// ```
/// use xbar_correct::repair::{RepairConfig, Status, erasure, gaussian_instance};
/// // 30 errors on 60 checks: far beyond L1 decoding, fine with a known support.
/// let inst = gaussian_instance(60, 300, 30, 4);
/// let support: Vec<usize> = (0..300).filter(|&i| inst.e0[i] != 0.0).collect();
/// let out = erasure(inst.m.as_ref(), &inst.sigma, &support, &RepairConfig::default())?;
/// assert_eq!(out.status, Status::Recovered);
/// # Ok::<(), xbar_correct::CorrectError>(())
/// ```
pub fn erasure(
    m: MatRef<'_, f64>,
    sigma: &[f64],
    support: &[usize],
    cfg: &RepairConfig,
) -> Result<Decoded, CorrectError> {
    cfg.validate()?;
    let prob = Problem::new(m, sigma)?;
    let (p, n) = (prob.p, prob.n);
    if let Some(&j) = support.iter().find(|&&j| j >= n) {
        return Err(CorrectError::Invalid {
            what: format!("erasure position {j} outside the {n} unknowns"),
        });
    }
    let mut s = support.to_vec();
    s.sort_unstable();
    s.dedup();
    let tol = cfg.tolerance(p, prob.sigma_norm);
    let mut e = vec![0.0; n];
    let fail = |e: Vec<f64>, residual: f64, message: String| Decoded {
        e,
        status: Status::Uncorrectable,
        decoder: Decoder::Erasure,
        iterations: 1,
        residual,
        tolerance: tol,
        syndrome_norm: prob.sigma_norm,
        support_size: s.len(),
        support: s.clone(),
        message,
        attempts: Vec::new(),
    };
    if s.len() > p {
        return Ok(fail(
            e,
            prob.sigma_norm,
            format!("{} known error positions exceed the {p} checks", s.len()),
        ));
    }
    let mut qr = ActiveQr::new(p, s.len());
    for &j in &s {
        if !qr.push(j, prob.col(j)) {
            return Ok(fail(
                e,
                prob.sigma_norm,
                format!("the known positions are rank deficient: column {j} depends on the others"),
            ));
        }
    }
    let mut x = vec![0.0; s.len()];
    qr.lstsq(prob.sigma, &mut x);
    for (&j, v) in s.iter().zip(x) {
        e[j] = v;
    }
    let mut scratch = vec![0.0; p];
    let residual = prob.residual(&e, &s, &mut scratch);
    let (status, message) = if residual <= tol {
        (
            Status::Recovered,
            format!(
                "{} known positions, residual {residual:.3e} <= tolerance {tol:.3e}",
                s.len()
            ),
        )
    } else if residual <= cfg.partial_fraction * prob.sigma_norm {
        (
            Status::Partial,
            format!("residual {residual:.3e} above tolerance {tol:.3e}: errors outside the map?"),
        )
    } else {
        (
            Status::Uncorrectable,
            format!(
                "residual {residual:.3e} stays above tolerance {tol:.3e}: errors outside the map"
            ),
        )
    };
    Ok(Decoded {
        e,
        status,
        decoder: Decoder::Erasure,
        iterations: 1,
        residual,
        tolerance: tol,
        syndrome_norm: prob.sigma_norm,
        support_size: s.len(),
        support: s,
        message,
        attempts: Vec::new(),
    })
}
