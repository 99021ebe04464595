//! The analog noise model that sets every detection threshold of the crate.
//!
//! One programmed array computes, per input row of row voltages `V` (read transfers
//! `f_i = f(V_i)`, bias row `f_bias`),
//!
//! ```text
//! V_o,j = R_load sum_i f_i (G+_ij - G-_ij) + n_read,j
//! ```
//!
//! Noise sources, all independent:
//!
//! - **Programming noise** (static, per device): `G' = G exp(sigma z)`, `z ~ N(0, 1)`, the
//!   lognormal spread of `xbar_device::Variability` with `sigma = sigma_gap / g0`.
//!   `Var(G') = phi G^2` with `phi = exp(sigma^2) (exp(sigma^2) - 1)` (exact for the lognormal).
//!   The mean `E[G'] = G exp(sigma^2 / 2)` is a common factor of all devices, so it scales every
//!   output and leaves every linear check that is zero on the nominal array zero on average.
//! - **Conductance quantisation** (optional): uniform error of one level step `q`, variance
//!   `q^2 / 12` per device.
//! - **Read noise** at each comparator output: `N(0, sigma_read^2)` (thermal, comparator offset).
//! - **ADC quantisation** of an output with step `Δ`: variance `Δ^2 / 12`.
//!
//! Hence output `j` has variance
//!
//! ```text
//! var_j = R_load^2 sum_i f_i^2 [phi (G+_ij^2 + G-_ij^2) + 2 q^2/12] + sigma_read^2 + Δ^2/12
//! ```
//!
//! and a check `d = sum_j c_j V_o,j` has variance `sum_j c_j^2 var_j`, which collapses into one
//! dot product per input: `sum_i f_i^2 u_i + ||c||^2 (sigma_read^2 + Δ^2/12)` with
//! `u_i = R_load^2 sum_j c_j^2 [phi (G+_ij^2 + G-_ij^2) + 2 q^2/12]` precomputed once per
//! array. A check flags an error when `|d| > kappa sqrt(var)`; for Gaussian noise a single
//! check false-alarms with probability `erfc(kappa / sqrt 2)` (5.7e-7 at `kappa = 5`).
//!
//! What the model leaves out (documented in `docs/ecc.md`): the clamp of the gap to its range
//! (devices at `G_min`/`G_max` cannot move further out, which shrinks their variance and adds a
//! bias of order `0.4 sigma G_min`, negligible beside the spread of the programmed devices),
//! and the correlation between inputs (static noise is the same for every input of a batch,
//! so false alarms of one chip cluster on the inputs that excite its worst devices).

use faer::{Accum, Mat, MatRef, Par};
use serde::{Deserialize, Serialize};
use xbar_crossbar::ProgrammedLayer;
use xbar_device::{DeviceParams, Variability};

use crate::error::{Result, invalid};

/// Noise of one analog array and the threshold multiple used by every check.
///
/// ```
/// use xbar_device::{DeviceParams, Variability};
/// use xbar_ecc::NoiseModel;
/// let var = Variability { sigma_gap: 0.025e-9, levels: 0 };
/// let n = NoiseModel::from_variability(&var, &DeviceParams::default(), 1e-4, 5.0);
/// assert!((n.sigma_ln_g - 0.1).abs() < 1e-12);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoiseModel {
    /// Standard deviation of `ln G` of every programmed device (dimensionless).
    pub sigma_ln_g: f64,
    /// Conductance quantisation step, in S (0 = continuous).
    pub g_step: f64,
    /// Standard deviation of the additive noise at each comparator output, in V.
    pub sigma_read: f64,
    /// ADC step at the output, in V (0 = no ADC).
    pub adc_step: f64,
    /// Threshold multiple: a check flags when `|d| > kappa * std(d)`.
    pub kappa: f64,
}

impl Default for NoiseModel {
    /// Ideal devices, no read noise, `kappa = 5`.
    fn default() -> Self {
        NoiseModel {
            sigma_ln_g: 0.0,
            g_step: 0.0,
            sigma_read: 0.0,
            adc_step: 0.0,
            kappa: 5.0,
        }
    }
}

impl NoiseModel {
    /// The model matching the device crate's programming variability: `sigma_ln_g =
    /// sigma_gap / g0`, and the level step of `levels` evenly spaced conductances.
    pub fn from_variability(
        var: &Variability,
        device: &DeviceParams,
        sigma_read: f64,
        kappa: f64,
    ) -> NoiseModel {
        let g_step = if var.levels >= 2 {
            (device.g_max() - device.g_min()) / f64::from(var.levels - 1)
        } else {
            0.0
        };
        NoiseModel {
            sigma_ln_g: var.sigma_gap / device.g0,
            g_step,
            sigma_read,
            adc_step: 0.0,
            kappa,
        }
    }

    /// Checks the values (finite, non-negative, `kappa > 0`).
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("sigma_ln_g", self.sigma_ln_g),
            ("g_step", self.g_step),
            ("sigma_read", self.sigma_read),
            ("adc_step", self.adc_step),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(name, v, "a finite value >= 0"));
            }
        }
        if !(self.kappa.is_finite() && self.kappa > 0.0) {
            return Err(invalid("kappa", self.kappa, "a finite value > 0"));
        }
        Ok(())
    }

    /// `phi = exp(sigma^2) (exp(sigma^2) - 1)`: `Var(G') / G^2` of a lognormal device.
    pub fn device_variance_factor(&self) -> f64 {
        let s2 = self.sigma_ln_g * self.sigma_ln_g;
        s2.exp() * s2.exp_m1()
    }

    /// Output-independent variance of each output: `sigma_read^2 + Δ^2 / 12`.
    pub fn additive_variance(&self) -> f64 {
        self.sigma_read * self.sigma_read + self.adc_step * self.adc_step / 12.0
    }

    /// Per-device variance weights `S_ij = R_load^2 [phi (G+_ij^2 + G-_ij^2) + 2 q^2/12]` of an
    /// array (`rows x cols`).
    pub fn device_weights(&self, layer: &ProgrammedLayer) -> Mat<f64> {
        let phi = self.device_variance_factor();
        let q = self.g_step * self.g_step / 12.0;
        let r2 = layer.r_load * layer.r_load;
        Mat::from_fn(layer.rows(), layer.cols(), |i, j| {
            let (p, m) = (layer.g_plus[(i, j)], layer.g_minus[(i, j)]);
            r2 * (phi * (p * p + m * m) + 2.0 * q)
        })
    }

    /// Variance of every output for a batch: `f_in` is `n x in` (read transfers of the row
    /// voltages), `weights` from [`NoiseModel::device_weights`]; returns `n x cols`. One
    /// matrix product with the squared inputs.
    pub fn output_variance(
        &self,
        weights: MatRef<'_, f64>,
        f_in: MatRef<'_, f64>,
        f_bias: f64,
    ) -> Mat<f64> {
        let n_in = f_in.ncols();
        let sq = Mat::from_fn(f_in.nrows(), n_in, |i, j| f_in[(i, j)] * f_in[(i, j)]);
        let mut out = Mat::<f64>::zeros(f_in.nrows(), weights.ncols());
        faer::linalg::matmul::matmul(
            out.as_mut(),
            Accum::Replace,
            sq.as_ref(),
            weights.subrows(0, n_in),
            1.0,
            Par::Seq,
        );
        let add = self.additive_variance();
        for j in 0..out.ncols() {
            let b = f_bias * f_bias * weights[(n_in, j)] + add;
            for v in out.col_mut(j).iter_mut() {
                *v += b;
            }
        }
        out
    }
}
