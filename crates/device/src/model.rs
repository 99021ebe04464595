//! The Stanford RRAM compact model (v1.0.0), read regime.

use serde::{Deserialize, Serialize};

use crate::Issues;

/// Current-voltage law used when the array is read.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum IvModel {
    /// `I = G(g) * V0 * sinh(V / V0)`: the Stanford model's tunnelling nonlinearity (default).
    #[default]
    Sinh,
    /// `I = G(g) * V`: an ideal resistor with the small-signal conductance.
    Linear,
}

/// Which state a stuck device is frozen in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stuck {
    /// Gap pinned at `gap_min`: the low-resistance state (about 1.8 mS with the defaults).
    On,
    /// Gap pinned at `gap_max`: the high-resistance state (about 4.46 uS with the defaults).
    Off,
}

/// Parameters of one ReRAM cell in SI units (metres, volts, amperes).
///
/// The defaults are those of the Stanford RRAM Verilog-A model v1.0.0 (Jiang & Wong 2014,
/// nanoHUB doi:10.4231/D37H1DN48) with the 0.2-1.7 nm gap range used by Sawal & Wong (2025).
///
/// ```
/// use xbar_device::DeviceParams;
/// let d = DeviceParams::default();
/// // G(0.2 nm) = (I0/V0) exp(-0.8) = 1.797316 mS
/// assert!((d.conductance(0.2e-9) - 1.797316e-3).abs() < 1e-9);
/// // The inverse recovers the gap.
/// assert!((d.gap_for_conductance(d.conductance(1.1e-9)) - 1.1e-9).abs() < 1e-21);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceParams {
    /// Current prefactor `I0`, in A.
    pub i0: f64,
    /// Gap decay length `g0`, in m.
    pub g0: f64,
    /// Nonlinearity voltage `V0`, in V.
    pub v0: f64,
    /// Smallest gap (stuck-on, low-resistance state), in m.
    pub gap_min: f64,
    /// Largest gap (stuck-off, high-resistance state), in m.
    pub gap_max: f64,
    /// Read I-V law.
    pub iv: IvModel,
}

impl Default for DeviceParams {
    fn default() -> Self {
        Self {
            i0: 1.0e-3,
            g0: 0.25e-9,
            v0: 0.25,
            gap_min: 0.2e-9,
            gap_max: 1.7e-9,
            iv: IvModel::Sinh,
        }
    }
}

impl DeviceParams {
    /// Checks physical sanity; the key names are those of a device card.
    pub fn validate(&self) -> Result<(), Issues> {
        let mut issues = Issues::default();
        issues.check_range("model.i0-amps", self.i0, 0.0, 1e-2, true);
        issues.check_range("model.g0-nm", self.g0 * 1e9, 0.0, 2.0, true);
        issues.check_range("model.v0-volts", self.v0, 0.0, 10.0, true);
        let a = issues.check_range("model.gap-min-nm", self.gap_min * 1e9, 0.0, 10.0, true);
        let b = issues.check_range("model.gap-max-nm", self.gap_max * 1e9, 0.0, 10.0, true);
        if a && b && self.gap_max <= self.gap_min {
            issues.push(
                "model.gap-max-nm",
                crate::fmt_f64(self.gap_max * 1e9),
                format!(
                    "a value greater than gap-min-nm = {}",
                    crate::fmt_f64(self.gap_min * 1e9)
                ),
            );
        }
        issues.into_result()
    }

    /// Small-signal conductance `G(g) = (I0/V0) exp(-g/g0)`, in S.
    #[inline]
    pub fn conductance(&self, gap: f64) -> f64 {
        (self.i0 / self.v0) * (-gap / self.g0).exp()
    }

    /// Gap giving conductance `g`: `g0 ln(I0 / (V0 G))`, in m (not clamped).
    #[inline]
    pub fn gap_for_conductance(&self, g: f64) -> f64 {
        self.g0 * (self.i0 / (self.v0 * g)).ln()
    }

    /// Conductance at the smallest gap (the largest programmable conductance), in S.
    pub fn g_max(&self) -> f64 {
        self.conductance(self.gap_min)
    }

    /// Conductance at the largest gap (the smallest programmable conductance), in S.
    pub fn g_min(&self) -> f64 {
        self.conductance(self.gap_max)
    }

    /// Gap of a stuck device, in m.
    pub fn stuck_gap(&self, stuck: Stuck) -> f64 {
        match stuck {
            Stuck::On => self.gap_min,
            Stuck::Off => self.gap_max,
        }
    }

    /// Clamps a gap into `[gap_min, gap_max]`.
    #[inline]
    pub fn clamp_gap(&self, gap: f64) -> f64 {
        gap.clamp(self.gap_min, self.gap_max)
    }

    /// The read transfer `f(V)` such that `I = G(g) f(V)`: `V0 sinh(V/V0)` or `V`.
    ///
    /// The Stanford read law is separable in gap and voltage, so with ideal wires the sinh
    /// nonlinearity acts as a pre-distortion of each row voltage.
    #[inline]
    pub fn read_transfer(&self, v: f64) -> f64 {
        match self.iv {
            IvModel::Sinh => self.v0 * sinh(v / self.v0),
            IvModel::Linear => v,
        }
    }

    /// Device current `I(g, V)`, in A, for the configured I-V law.
    #[inline]
    pub fn current(&self, gap: f64, v: f64) -> f64 {
        self.conductance(gap) * self.read_transfer(v)
    }

    /// Rounds a conductance to the nearest of `levels` values evenly spaced in G between
    /// [`g_min`](Self::g_min) and [`g_max`](Self::g_max). `levels < 2` leaves it unchanged.
    pub fn quantize_conductance(&self, g: f64, levels: u32) -> f64 {
        if levels < 2 {
            return g;
        }
        let (lo, hi) = (self.g_min(), self.g_max());
        let step = (hi - lo) / f64::from(levels - 1);
        let k = ((g - lo) / step).round().clamp(0.0, f64::from(levels - 1));
        lo + k * step
    }
}

/// Largest `|x|` for which [`sinh`] uses [`sinh_series`].
pub const SINH_SERIES_MAX: f64 = 0.5;

/// The odd Taylor series of `sinh` to `x^13`, the branch [`sinh`] takes for
/// `|x| <= SINH_SERIES_MAX` (same operations, same bits). Branch-free, so a loop over it
/// vectorises; `#[inline(always)]` so it compiles for the instruction set of its caller.
#[inline(always)]
pub fn sinh_series(x: f64) -> f64 {
    let x2 = x * x;
    // Horner form of x (1 + x^2/3! (1 + x^2/(4*5) (1 + x^2/(6*7) (...)))).
    let mut p = 1.0 + x2 * (1.0 / 156.0); // 12*13
    p = 1.0 + x2 * (1.0 / 110.0) * p; // 10*11
    p = 1.0 + x2 * (1.0 / 72.0) * p; // 8*9
    p = 1.0 + x2 * (1.0 / 42.0) * p; // 6*7
    p = 1.0 + x2 * (1.0 / 20.0) * p; // 4*5
    p = 1.0 + x2 * (1.0 / 6.0) * p; // 2*3
    x * p
}

/// `sinh(x)`, accurate to about one ulp, several times faster than the C library's.
///
/// Read voltages keep `|x| = |V/V0|` well below 0.5, where the odd Taylor series to `x^13` has a
/// truncation error below `x^15/15! < 3e-17 |x|`; beyond it, `(e^x - e^-x)/2` has no
/// cancellation. Plain multiplies and adds (no fused multiply-add), so the result is the same on
/// every platform and for any thread count.
///
/// ```
/// let x = 0.3;
/// assert!((xbar_device::sinh(x) - x.sinh()).abs() <= 2.0 * f64::EPSILON * x.sinh());
/// ```
#[inline]
pub fn sinh(x: f64) -> f64 {
    if x.abs() <= SINH_SERIES_MAX {
        sinh_series(x)
    } else {
        // Evaluated on |x| so the function is exactly odd.
        let e = x.abs().exp();
        (0.5 * (e - 1.0 / e)).copysign(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn fast_sinh_matches_the_library_to_a_few_ulp() {
        let mut worst = 0.0f64;
        for k in -40_000..=40_000 {
            let x = f64::from(k) * 1e-4 + 1e-9; // [-4, 4], off the grid points
            let r = (sinh(x) - x.sinh()).abs() / x.sinh().abs();
            worst = worst.max(r);
        }
        assert!(worst < 4.0 * f64::EPSILON, "worst relative error {worst:e}");
        assert_eq!(sinh(0.0), 0.0);
        assert!(sinh(1e-300) == 1e-300 && sinh(-2.0) == -sinh(2.0));
        assert_relative_eq!(sinh(30.0), 30.0f64.sinh(), max_relative = 1e-15);
    }

    #[test]
    fn pinned_conductances() {
        let d = DeviceParams::default();
        assert_relative_eq!(d.conductance(0.2e-9), 1.797316e-3, max_relative = 2e-7);
        assert_relative_eq!(d.conductance(1.7e-9), 4.455101e-6, max_relative = 2e-7);
        assert_relative_eq!(d.g_max() / d.g_min(), 6.0f64.exp(), max_relative = 1e-12);
    }

    #[test]
    fn gap_round_trip_over_the_range() {
        let d = DeviceParams::default();
        for k in 0..=150 {
            let g = 0.2e-9 + f64::from(k) * 1e-11;
            assert_relative_eq!(
                d.gap_for_conductance(d.conductance(g)),
                g,
                max_relative = 1e-12
            );
        }
    }

    #[test]
    fn current_matches_reference_table() {
        // physics.md section 1.4: I at 0.1 V on 0.2 nm and 1.7 nm (ngspice agrees).
        let d = DeviceParams::default();
        assert_relative_eq!(d.current(0.2e-9, 0.1), 1.845629e-4, max_relative = 1e-6);
        assert_relative_eq!(d.current(1.7e-9, 0.1), 4.574857e-7, max_relative = 1e-6);
        let lin = DeviceParams {
            iv: IvModel::Linear,
            ..d
        };
        assert_relative_eq!(lin.current(0.2e-9, 0.1), 1.797316e-4, max_relative = 1e-6);
    }

    #[test]
    fn stuck_gaps_are_the_range_ends() {
        let d = DeviceParams::default();
        assert_eq!(d.stuck_gap(Stuck::On), d.gap_min);
        assert_eq!(d.stuck_gap(Stuck::Off), d.gap_max);
    }

    #[test]
    fn quantization_hits_levels() {
        let d = DeviceParams::default();
        let q = d.quantize_conductance(d.g_max() * 0.49, 3);
        let mid = 0.5 * (d.g_min() + d.g_max());
        assert_relative_eq!(q, mid, max_relative = 1e-12);
        assert_eq!(d.quantize_conductance(1.23e-4, 0), 1.23e-4);
        assert_eq!(d.quantize_conductance(1.0, 4), d.g_max());
    }

    #[test]
    fn validation_collects_everything() {
        let d = DeviceParams {
            i0: f64::NAN,
            g0: -1.0,
            v0: 0.0,
            gap_min: 2e-9,
            gap_max: 1e-9,
            iv: IvModel::Sinh,
        };
        let issues = d.validate().unwrap_err();
        assert_eq!(issues.len(), 4, "{issues}");
    }
}
