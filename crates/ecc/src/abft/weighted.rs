//! Weighted-checksum codes, the baselines the additions-only codes are compared with.

use faer::Mat;
use serde::{Deserialize, Serialize};

use super::{CheckCode, Decision, OpCount, Overhead};
use crate::error::{Result, invalid};

/// The weights of the second check row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightScheme {
    /// `w_j = 2^(j-1)`, the form associated with Jou and Abraham (dynamic range `2^k`).
    PowersOfTwo,
    /// `w_j = j`, the Luk-Park style weights.
    Linear,
}

impl WeightScheme {
    /// Short label used in results.
    pub fn label(self) -> &'static str {
        match self {
            WeightScheme::PowersOfTwo => "wcs-jou-abraham",
            WeightScheme::Linear => "wcs-luk-park",
        }
    }
}

/// A weighted-checksum code: check rows `1`, `w` (distance 3) and additionally `w^2`
/// (distance 4, Vandermonde rows).
///
/// Decoding needs a division (`w_j = s_2 / s_1`) and the check rows need multiplications;
/// with powers of two the check values grow like `2^k`, which an analog array cannot hold
/// for more than a few tens of outputs (see [`crate::abft::conductance_scale`]).
///
/// ```
/// use xbar_ecc::abft::{CheckCode, Decision, WeightScheme, WeightedChecksum};
/// let code = WeightedChecksum::new(WeightScheme::Linear, 10, 3)?;
/// let y = vec![1.0; 10];
/// let mut z = vec![0.0; 2];
/// code.encode(&y, &mut z);
/// assert_eq!(z, [10.0, 55.0]);
/// let mut y_bad = y.clone();
/// y_bad[3] -= 0.25;
/// let mut s = vec![0.0; 2];
/// code.syndrome(&y_bad, &z, &mut s);
/// assert_eq!(code.decode(&s, &[1e-9, 1e-9]), Decision::Corrected { position: 3, value: -0.25 });
/// # Ok::<(), xbar_ecc::EccError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct WeightedChecksum {
    scheme: WeightScheme,
    k: usize,
    distance: u32,
    weights: Vec<f64>,
}

impl WeightedChecksum {
    /// A code for `k` positions with minimum distance 3 (two rows) or 4 (three rows).
    /// Powers of two are limited to `k <= 1000` (beyond, `2^(k-1)` overflows `f64`).
    pub fn new(scheme: WeightScheme, k: usize, distance: u32) -> Result<WeightedChecksum> {
        if distance != 3 && distance != 4 {
            return Err(invalid("distance", distance, "3 or 4"));
        }
        let k_max = match scheme {
            WeightScheme::PowersOfTwo => 1000,
            WeightScheme::Linear => 1 << 20,
        };
        if k == 0 || k > k_max {
            return Err(invalid("k", k, format!("1..={k_max}")));
        }
        let weights = (0..k)
            .map(|j| match scheme {
                WeightScheme::PowersOfTwo => 2f64.powi(j as i32),
                WeightScheme::Linear => (j + 1) as f64,
            })
            .collect();
        Ok(WeightedChecksum {
            scheme,
            k,
            distance,
            weights,
        })
    }

    /// The weight scheme.
    pub fn scheme(&self) -> WeightScheme {
        self.scheme
    }

    /// The weights `w_j` of the second row.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Index of the weight nearest to `ratio`, if any is within half the gap to its
    /// neighbours.
    fn locate(&self, ratio: f64) -> Option<usize> {
        if !ratio.is_finite() || ratio <= 0.0 {
            return None;
        }
        let j = match self.scheme {
            WeightScheme::Linear => ratio.round() - 1.0,
            WeightScheme::PowersOfTwo => ratio.log2().round(),
        };
        if j < 0.0 || j >= self.k as f64 {
            return None;
        }
        Some(j as usize)
    }
}

impl CheckCode for WeightedChecksum {
    fn name(&self) -> String {
        format!("{}-d{}", self.scheme.label(), self.distance)
    }

    fn k(&self) -> usize {
        self.k
    }

    fn r(&self) -> usize {
        self.distance as usize - 1
    }

    fn min_distance(&self) -> u32 {
        self.distance
    }

    fn check_matrix(&self) -> Mat<f64> {
        Mat::from_fn(self.r(), self.k, |i, j| self.weights[j].powi(i as i32))
    }

    fn encode(&self, y: &[f64], z: &mut [f64]) {
        for (i, zi) in z.iter_mut().enumerate().take(self.r()) {
            let mut acc = 0.0;
            for (yj, wj) in y.iter().zip(&self.weights) {
                acc += match i {
                    0 => *yj,
                    1 => wj * yj,
                    _ => wj * wj * yj,
                };
            }
            *zi = acc;
        }
    }

    fn syndrome(&self, y: &[f64], z: &[f64], s: &mut [f64]) {
        self.encode(y, s);
        for (si, zi) in s.iter_mut().zip(z) {
            *si -= zi;
        }
    }

    /// One flagged entry: a check output failed. Otherwise the ratio `s_2 / s_1` names the
    /// data position (one division), accepted if `s_2 - w_j s_1` (and `s_3 - w_j^2 s_1`) are
    /// within their propagated thresholds.
    fn decode(&self, s: &[f64], tau: &[f64]) -> Decision {
        let r = self.r();
        let flagged: Vec<usize> = (0..r).filter(|&i| s[i].abs() > tau[i]).collect();
        match flagged.len() {
            0 => return Decision::Clean,
            1 => {
                let i = flagged[0];
                return Decision::Corrected {
                    position: self.k + i,
                    value: -s[i],
                };
            }
            _ => {}
        }
        if s[0].abs() <= tau[0] {
            return Decision::Uncorrectable;
        }
        let Some(j) = self.locate(s[1] / s[0]) else {
            return Decision::Uncorrectable;
        };
        let w = self.weights[j];
        let v = s[0];
        let mut ok = (s[1] - w * v).abs() <= tau[1] + w * tau[0];
        if r == 3 {
            ok &= (s[2] - w * w * v).abs() <= tau[2] + w * w * tau[0];
        }
        if ok {
            Decision::Corrected {
                position: j,
                value: v,
            }
        } else {
            Decision::Uncorrectable
        }
    }

    /// Per protected vector: each row sums `k` terms (`k - 1` additions), rows 2 and 3 multiply
    /// every term whose weight is not 1 (`k - 1` each; a multiplication by a power of two is a
    /// shift in fixed point but a multiplication in floating point); the syndrome adds one
    /// subtraction per row; location is one division (and, for distance 4, two
    /// multiplications to verify).
    fn overhead(&self, n: usize) -> Overhead {
        let k = self.k as u64;
        let r = self.r() as u64;
        let n = n as u64;
        let non_unit = self.weights.iter().filter(|&&w| w != 1.0).count() as u64;
        let mults = non_unit * (r - 1);
        Overhead {
            encode_vector: OpCount {
                additions: r * (k - 1),
                multiplications: mults,
                ..OpCount::default()
            },
            multiply: OpCount {
                additions: r * n.saturating_sub(1),
                multiplications: r * n,
                ..OpCount::default()
            },
            syndrome: OpCount {
                additions: r * k,
                multiplications: mults,
                ..OpCount::default()
            },
            locate: OpCount {
                divisions: 1,
                multiplications: if r == 3 { 2 } else { 1 },
                comparisons: r + 1,
                ..OpCount::default()
            },
        }
    }
}
