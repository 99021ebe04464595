//! Algorithm-based fault tolerance (ABFT) for matrix-vector products, with the
//! additions-only codes of Tao, Hartmann and Han (IEEE TPDS 7(9), 1996) and the
//! weighted-checksum baselines.
//!
//! A code is a check matrix `H = [P | -I_r]`. For a layer `y = W x` (here: `k` array columns)
//! the `r` check columns `P W` are programmed beside the data columns, so the array returns
//! `ŷ ≈ y` and `ẑ ≈ P y`. The syndrome `s = P ŷ - ẑ = P ε_y - ε_z` is zero without errors; one
//! error of value `v` on data output `j` gives `s = v p_j`, one on check output `i` gives
//! `s = -v e_i`. Over the reals the code corrects one error iff no two columns of `H` are
//! parallel (distance 3), and also detects two iff every three columns are independent
//! (distance 4).
//!
//! - [`TernaryCode`]: `P` with entries `0, ±1` (Procedure I: lengthened Hamming, distance 3;
//!   Procedure II: SEC/DED, distance 4), built by enumeration; the syndrome and the decoder use
//!   additions, subtractions and comparisons only.
//! - [`WeightedChecksum`]: rows `1, w, w^2` (Jou-Abraham `w_j = 2^(j-1)`, Luk-Park `w_j = j`).
//! - [`range_table`]: the `k -> r` tables (the paper's Tables 2 and 3).
//! - [`encode_layer`] / [`conductance_scale`]: check columns for a crossbar, scaled into the
//!   conductance range.
//!
//! Decoding with analog noise (`reference/ecc-math.md` B.5): entry `i` of the syndrome has
//! noise variance `sum_j P_ij^2 var(y_j) + s^2 var(z_i)` (`s` = the check-column scale);
//! [`syndrome_thresholds`] turns it into `tau_i = kappa * std`.

mod encode;
mod ternary;
mod weighted;

pub use encode::{EncodedLayer, check_columns, conductance_scale, encode_layer};
pub use ternary::{
    RangeRow, TernaryCode, TernaryKind, lhc_capacity, lhc_min_r, range_table, secded_capacity,
    secded_min_r,
};
pub use weighted::{WeightScheme, WeightedChecksum};

use faer::{Accum, Mat, MatMut, MatRef, Par};
use serde::{Deserialize, Serialize};

/// What the decoder concluded from one syndrome.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Every syndrome entry within its threshold.
    Clean,
    /// One error located: subtract `value` from output `position` (`position < k`: a data
    /// output; `k + i`: check output `i`).
    Corrected {
        /// Position in `0..k + r`.
        position: usize,
        /// Estimated error value (the output was `true + value`).
        value: f64,
    },
    /// An error is present but no single error explains the syndrome.
    Uncorrectable,
}

impl Decision {
    /// Whether the decoder flagged an error (corrected or not).
    pub fn flagged(&self) -> bool {
        !matches!(self, Decision::Clean)
    }
}

/// Counts of arithmetic operations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCount {
    /// Additions and subtractions.
    pub additions: u64,
    /// Multiplications (including multiplications by powers of two).
    pub multiplications: u64,
    /// Divisions.
    pub divisions: u64,
    /// Comparisons against thresholds.
    pub comparisons: u64,
}

/// Operation counts of a code for one layer (`reference/ecc-math.md` B.6, in place of the
/// paper's Tables 4 and 5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overhead {
    /// Encoding one data vector of length `k` (one column of the matrix being protected;
    /// multiply by the number of columns for the whole matrix; paid once when programming).
    pub encode_vector: OpCount,
    /// The extra work of the product itself: `r` check rows times an `n`-vector (done by the
    /// array in a crossbar).
    pub multiply: OpCount,
    /// Forming the syndrome of one product.
    pub syndrome: OpCount,
    /// Locating an error from a nonzero syndrome.
    pub locate: OpCount,
}

/// A systematic real check code `H = [P | -I_r]` for `k` outputs.
pub trait CheckCode {
    /// Short label (`lhc`, `secded`, `wcs-luk-park-d3`, ...).
    fn name(&self) -> String;
    /// Data positions.
    fn k(&self) -> usize;
    /// Check positions.
    fn r(&self) -> usize;
    /// Minimum distance over the reals (3: single-error correcting; 4: also detects doubles).
    fn min_distance(&self) -> u32;
    /// `P` as a dense `r x k` matrix.
    fn check_matrix(&self) -> Mat<f64>;
    /// `z = P y` (`y.len() == k`, `z.len() == r`).
    fn encode(&self, y: &[f64], z: &mut [f64]);
    /// `s = P y - z`.
    fn syndrome(&self, y: &[f64], z: &[f64], s: &mut [f64]);
    /// Decodes a syndrome with per-entry thresholds `tau`.
    fn decode(&self, s: &[f64], tau: &[f64]) -> Decision;
    /// Operation counts for a product with an `n`-vector.
    fn overhead(&self, n: usize) -> Overhead;

    /// Syndromes of a whole batch: `S = Y P^T - scale Z` with `Y` the `n x k` data outputs,
    /// `Z` the `n x r` check outputs as read (before multiplying back by `scale`) and `S`
    /// `n x r`. The default uses one matrix product; [`TernaryCode`] overrides it with
    /// column additions only.
    fn syndrome_batch(
        &self,
        y: MatRef<'_, f64>,
        z: MatRef<'_, f64>,
        scale: f64,
        mut s: MatMut<'_, f64>,
    ) {
        let p = self.check_matrix();
        faer::linalg::matmul::matmul(s.as_mut(), Accum::Replace, y, p.transpose(), 1.0, Par::Seq);
        for i in 0..s.ncols() {
            for (t, v) in s.as_mut().col_mut(i).iter_mut().enumerate() {
                *v -= scale * z[(t, i)];
            }
        }
    }
}

/// Syndrome thresholds `tau_i = kappa sqrt(sum_j P_ij^2 var_y[j] + scale^2 var_z[i])` for
/// independent output noise with variances `var_y` (data outputs) and `var_z` (check outputs as
/// read, before multiplying back by `scale`).
pub fn syndrome_thresholds(
    p: &Mat<f64>,
    var_y: &[f64],
    var_z: &[f64],
    scale: f64,
    kappa: f64,
    tau: &mut [f64],
) {
    for i in 0..p.nrows() {
        let mut v = scale * scale * var_z[i];
        for (j, vy) in var_y.iter().enumerate() {
            let pij = p[(i, j)];
            v += pij * pij * vy;
        }
        tau[i] = kappa * v.sqrt();
    }
}

/// Applies a decision to the outputs: subtracts the located error from `y` (data) or `z`
/// (checks). Returns whether anything was changed.
pub fn apply_correction(decision: &Decision, y: &mut [f64], z: &mut [f64]) -> bool {
    match *decision {
        Decision::Corrected { position, value } => {
            if position < y.len() {
                y[position] -= value;
            } else {
                z[position - y.len()] -= value;
            }
            true
        }
        _ => false,
    }
}
