//! Static device-to-device variability: gap offsets and conductance quantisation.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::{DeviceParams, Issues};

/// Programming non-idealities applied to every healthy device.
///
/// A Gaussian gap offset `N(0, sigma_gap)`, clamped to the gap range, is exactly a lognormal
/// conductance spread with `sigma_lnG = sigma_gap / g0` (physics.md section 0.2). The Stanford
/// Verilog-A random walk is deliberately not used: its size depends on the simulator time step.
///
/// ```
/// use rand::SeedableRng;
/// use xbar_device::{DeviceParams, Variability};
/// let d = DeviceParams::default();
/// let v = Variability { sigma_gap: 0.025e-9, levels: 0 };
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let g = v.program(&d, 1e-4, &mut rng);
/// assert!(g > d.g_min() && g < d.g_max());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Variability {
    /// Standard deviation of the gap offset, in m (0 = ideal).
    pub sigma_gap: f64,
    /// Number of evenly spaced conductance levels (0 or 1 = continuous).
    pub levels: u32,
}

impl Variability {
    /// True when programming is ideal (no draw is made, so no RNG state is consumed).
    pub fn is_ideal(&self) -> bool {
        self.sigma_gap == 0.0 && self.levels < 2
    }

    /// Checks the values; key names are those of the experiment file's `[variability]` table.
    pub fn validate(&self) -> Result<(), Issues> {
        let mut issues = Issues::default();
        issues.check_range("sigma-gap-nm", self.sigma_gap * 1e9, 0.0, 1.0, false);
        if self.levels > 1 << 16 {
            issues.push("levels", self.levels, "0 (continuous) or 2..=65536 levels");
        }
        issues.into_result()
    }

    /// The conductance actually reached when programming `target` (S): quantise, convert to a
    /// gap, add the gap offset, clamp, convert back. Draws one normal number when
    /// `sigma_gap > 0`.
    pub fn program<R: Rng + ?Sized>(&self, device: &DeviceParams, target: f64, rng: &mut R) -> f64 {
        let g = device.quantize_conductance(target, self.levels);
        if self.sigma_gap == 0.0 {
            return g;
        }
        let z: f64 = StandardNormal.sample(rng);
        let gap = device.clamp_gap(device.gap_for_conductance(g) + self.sigma_gap * z);
        device.conductance(gap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn lognormal_spread_matches_sigma_over_g0() {
        let d = DeviceParams::default();
        let v = Variability {
            sigma_gap: 0.025e-9,
            levels: 0,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let target = 1e-4; // mid-range: clamping is negligible at 0.1 sigma_lnG
        let n = 20_000;
        let logs: Vec<f64> = (0..n)
            .map(|_| (v.program(&d, target, &mut rng) / target).ln())
            .collect();
        let mean = logs.iter().sum::<f64>() / n as f64;
        let sd = (logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        assert!(mean.abs() < 0.005, "mean {mean}");
        assert!((sd - 0.10).abs() < 0.003, "sd {sd}");
    }

    #[test]
    fn ideal_programming_is_exact() {
        let d = DeviceParams::default();
        let v = Variability::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        assert!(v.is_ideal());
        assert_eq!(v.program(&d, 3.3e-4, &mut rng), 3.3e-4);
    }
}
