//! Check columns for a crossbar layer and their scaling into the conductance range.

use faer::{Mat, MatRef};

use super::CheckCode;
use crate::error::{EccError, Result};

/// Check columns of a layer in array layout: `w` is `rows x k` (one array column per output,
/// as in `xbar_nn::Dense::w`), the result is `rows x r` with column `i` equal to
/// `sum_j P_ij w[:, j]`, so that the check outputs are `z = P y` for every input.
pub fn check_columns(code: &dyn CheckCode, w: MatRef<'_, f64>) -> Result<Mat<f64>> {
    if w.ncols() != code.k() {
        return Err(EccError::Shape {
            what: format!("{} columns for a code with k = {}", w.ncols(), code.k()),
        });
    }
    let mut out = Mat::<f64>::zeros(w.nrows(), code.r());
    let mut z = vec![0.0; code.r()];
    let mut row = vec![0.0; code.k()];
    for i in 0..w.nrows() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = w[(i, j)];
        }
        code.encode(&row, &mut z);
        for (c, zc) in z.iter().enumerate() {
            out[(i, c)] = *zc;
        }
    }
    Ok(out)
}

/// The factor `s` by which check columns are divided so that they fit the conductance range
/// of the data columns: the smallest power of two `>= 1` with `max|checks| / s <= max|data|`
/// (`reference/ecc-math.md` B.7). The array then returns `z / s`; multiplying back by `s` is a
/// shift in fixed point. Check columns of `±1` codes need `s <= max row weight`; powers-of-two
/// weighted checksums need about `2^k`, which is why they do not fit an analog array.
///
/// ```
/// use faer::Mat;
/// let data = Mat::from_fn(2, 3, |i, j| (i + j) as f64 * 0.5 - 1.0);
/// let checks = Mat::from_fn(2, 1, |i, _| 2.5 * i as f64);
/// assert_eq!(xbar_ecc::abft::conductance_scale(data.as_ref(), checks.as_ref()), 4.0);
/// ```
pub fn conductance_scale(data: MatRef<'_, f64>, checks: MatRef<'_, f64>) -> f64 {
    let max_abs = |m: MatRef<'_, f64>| {
        let mut a = 0.0f64;
        for j in 0..m.ncols() {
            for i in 0..m.nrows() {
                a = a.max(m[(i, j)].abs());
            }
        }
        a
    };
    let (d, c) = (max_abs(data), max_abs(checks));
    if d == 0.0 || c <= d {
        return 1.0;
    }
    let mut s = 1.0;
    while c / s > d {
        s *= 2.0;
    }
    s
}

/// A layer with its check columns appended, ready to be programmed as one array.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedLayer {
    /// `in x (k + r)`: the data weights, then the check columns divided by `scale`.
    pub w: Mat<f64>,
    /// `k + r` biases: the data biases, then `P b / scale`.
    pub b: Vec<f64>,
    /// The divisor of the check columns (multiply the check outputs by it before forming the
    /// syndrome).
    pub scale: f64,
    /// Data columns.
    pub k: usize,
    /// Check columns.
    pub r: usize,
}

/// Appends the scaled check columns of `code` to the layer `y = x w + b` (`w`: `in x k`).
/// The bias row is encoded like a weight row, so `z = P y` holds for every input, bias
/// included; the scale is chosen on weights and biases together.
pub fn encode_layer(code: &dyn CheckCode, w: MatRef<'_, f64>, b: &[f64]) -> Result<EncodedLayer> {
    if b.len() != w.ncols() {
        return Err(EccError::Shape {
            what: format!("{} biases for {} outputs", b.len(), w.ncols()),
        });
    }
    let (n_in, k) = (w.nrows(), w.ncols());
    let aug = Mat::from_fn(n_in + 1, k, |i, j| if i < n_in { w[(i, j)] } else { b[j] });
    let checks = check_columns(code, aug.as_ref())?;
    let scale = conductance_scale(aug.as_ref(), checks.as_ref());
    let r = code.r();
    let wc = Mat::from_fn(n_in, k + r, |i, j| {
        if j < k {
            w[(i, j)]
        } else {
            checks[(i, j - k)] / scale
        }
    });
    let bc = (0..k + r)
        .map(|j| {
            if j < k {
                b[j]
            } else {
                checks[(n_in, j - k)] / scale
            }
        })
        .collect();
    Ok(EncodedLayer {
        w: wc,
        b: bc,
        scale,
        k,
        r,
    })
}
