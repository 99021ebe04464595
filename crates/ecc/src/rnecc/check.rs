//! The online check `c^T y` of a programmed, coded layer.

use faer::{Accum, Mat, MatRef, Par};

use xbar_crossbar::ProgrammedLayer;

use crate::error::{EccError, Result};
use crate::noise::NoiseModel;

/// The outcome of [`OutputCheck::check`] for a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckOutcome {
    /// `d = y c_l` per input and check (`n x L`).
    pub statistic: Mat<f64>,
    /// `tau = kappa std(d)` per input and check (`n x L`).
    pub threshold: Mat<f64>,
    /// Per input: whether any `|d_l| > tau_l`.
    pub flagged: Vec<bool>,
}

/// The online type-2 check of one programmed array: `d_l = sum_j c_lj V_o,j`, which is zero
/// for every input when the array holds a codeword (`H c_l = 0` for each input row, hence for
/// any row voltages, sinh pre-distortion included), flagged when `|d_l| > kappa std(d_l)`.
///
/// The standard deviation comes from [`NoiseModel`]: `var(d_l) = sum_i f_i^2 u_il +
/// ||c_l||^2 (sigma_read^2 + Δ^2/12)` with `u_il = R_load^2 sum_j c_lj^2 [phi (G+_ij^2 +
/// G-_ij^2) + 2 q^2/12]` precomputed here; per input it costs one dot product of the squared
/// read transfers with `u`.
///
/// The outputs `y` are the comparator outputs *before* the rectifier (`R_load` times the column
/// current difference): the check is linear, the rectifier is not.
#[derive(Clone, Debug)]
pub struct OutputCheck {
    c: Mat<f64>,
    u: Mat<f64>,
    add_var: Vec<f64>,
    kappa: f64,
}

impl OutputCheck {
    /// Prepares the check vectors `c` (`L x cols`, e.g. [`super::WeightCode::checks`]) for the
    /// programmed `layer` and the noise model.
    pub fn new(
        c: MatRef<'_, f64>,
        layer: &ProgrammedLayer,
        noise: &NoiseModel,
    ) -> Result<OutputCheck> {
        noise.validate()?;
        if c.ncols() != layer.cols() {
            return Err(EccError::Shape {
                what: format!(
                    "{} check entries for an array with {} columns",
                    c.ncols(),
                    layer.cols()
                ),
            });
        }
        let s = noise.device_weights(layer);
        let c2 = Mat::from_fn(c.ncols(), c.nrows(), |j, l| c[(l, j)] * c[(l, j)]);
        let u = &s * &c2;
        let add = noise.additive_variance();
        let add_var = (0..c.nrows())
            .map(|l| (0..c.ncols()).map(|j| c[(l, j)] * c[(l, j)]).sum::<f64>() * add)
            .collect();
        Ok(OutputCheck {
            c: c.to_owned(),
            u,
            add_var,
            kappa: noise.kappa,
        })
    }

    /// Number of checks `L`.
    pub fn len(&self) -> usize {
        self.c.nrows()
    }

    /// True when there is no check.
    pub fn is_empty(&self) -> bool {
        self.c.nrows() == 0
    }

    /// `d = y c^T` for a batch of outputs `y` (`n x cols`): `n x L`.
    pub fn statistics(&self, y: MatRef<'_, f64>) -> Mat<f64> {
        let mut d = Mat::<f64>::zeros(y.nrows(), self.c.nrows());
        faer::linalg::matmul::matmul(
            d.as_mut(),
            Accum::Replace,
            y,
            self.c.transpose(),
            1.0,
            Par::Seq,
        );
        d
    }

    /// Thresholds `kappa std(d)` for a batch with read transfers `f_in` (`n x in`) and bias-row
    /// transfer `f_bias`: `n x L`.
    pub fn thresholds(&self, f_in: MatRef<'_, f64>, f_bias: f64) -> Mat<f64> {
        let (n, n_in) = (f_in.nrows(), f_in.ncols());
        let mut v = Mat::<f64>::zeros(n, self.c.nrows());
        let mut acc = vec![0.0; n];
        for l in 0..v.ncols() {
            let b = f_bias * f_bias * self.u[(n_in, l)] + self.add_var[l];
            acc.iter_mut().for_each(|a| *a = b);
            for i in 0..n_in {
                let u = self.u[(i, l)];
                match f_in.col(i).try_as_col_major() {
                    Some(c) => {
                        for (a, f) in acc.iter_mut().zip(c.as_slice()) {
                            *a += f * f * u;
                        }
                    }
                    None => {
                        for (a, f) in acc.iter_mut().zip(f_in.col(i).iter()) {
                            *a += f * f * u;
                        }
                    }
                }
            }
            for (t, a) in acc.iter().enumerate() {
                v[(t, l)] = self.kappa * a.sqrt();
            }
        }
        v
    }

    /// Statistics, thresholds and the per-input flag.
    pub fn check(&self, y: MatRef<'_, f64>, f_in: MatRef<'_, f64>, f_bias: f64) -> CheckOutcome {
        let statistic = self.statistics(y);
        let threshold = self.thresholds(f_in, f_bias);
        let flagged = (0..y.nrows())
            .map(|i| (0..statistic.ncols()).any(|l| statistic[(i, l)].abs() > threshold[(i, l)]))
            .collect();
        CheckOutcome {
            statistic,
            threshold,
            flagged,
        }
    }
}
