//! Real-number error-correcting code embedded in the weights (after Li, Cho, Jin, Xu,
//! "Repair Brain Damage: Real-Numbered Error Correction Code for Neural Network",
//! arXiv 2602.00076; the construction follows `reference/ecc-math.md` A.2-A.4).
//!
//! # Layout and equations
//!
//! The code acts on a layer in **array layout**: `H` is `rows x cols` with one row per input
//! (the bias row last, as in `xbar_crossbar::ProgrammedLayer`) and one column per output, so
//! `y = x_aug H` (`x_aug = [x, 1]`). In the notation of the paper, `W = H^T` and `y = W x`.
//!
//! - **Type 1** (dense, random; for correction by `xbar-correct`): the rows are split into
//!   groups of `group_rows` inputs (a group of *columns* of `W`); group `g` gets `K` Gaussian
//!   matrices `A_k` (i.i.d. `N(0,1)` entries, regenerated from `(seed, g)`) and the constraints
//!   `<A_k, H_g> = 0`.
//! - **Type 2** (structured; the cheap online check): `L` vectors `c_l` over the outputs with
//!   `H c_l = 0` (`c_l^T W = 0`), hence `c_l^T y = 0` for every input. `c = 1` makes the last
//!   output minus the sum of the others.
//!
//! In group `g` (`N_g = |rows of g| * cols` unknowns, `vec` = input by input, each input's
//! `cols` weights contiguous, i.e. `vec(W_g)` column-major) all constraint vectors are stacked
//! as the columns of `B_g = M_g^T` (`N_g x p_g`, `p_g = K + L |rows of g|`). One thin QR
//! `B_g = Q_g R_g` (Householder, faer, sequential) gives the orthogonal projector onto the code:
//! `vec(H_g) <- vec(H_g) - Q_g (Q_g^T vec(H_g))`, the nearest admissible weights in Frobenius
//! norm. Projecting on both families *jointly* matters: one after the other does not land in
//! the intersection, because Gaussian `A_k` are not orthogonal to the type-2 directions.
//! Type-2 constraints involve one input row each, so they never couple groups.
//!
//! The syndrome `sigma_g = M_g vec(H̃_g)` (offline scrubbing) is zero on a codeword and equals
//! `M_g vec(E_g)` for a memory error `E`; [`WeightCode::syndrome_q`] gives the whitened
//! `Q_g^T vec(H̃_g)` that an L1 decoder can use instead.
//!
//! Fine-tuning with projected steps ([`finetune`]) recovers the accuracy that the projection
//! costs; [`OutputCheck`] is the online check `c^T y` with a threshold from
//! [`crate::NoiseModel`].

mod check;
mod finetune;

pub use check::{CheckOutcome, OutputCheck};
pub use finetune::{
    CodedAccuracy, FinetuneConfig, FinetuneReport, Optimizer, augmented, coded_accuracy,
    coded_matrix, digits_coded_accuracy, finetune, project_layer, set_augmented,
};

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::householder::apply_block_householder_sequence_on_the_left_in_place_with_conj;
use faer::linalg::qr::no_pivoting::factor::{
    qr_in_place, qr_in_place_scratch, recommended_block_size,
};
use faer::{Accum, Conj, Mat, MatMut, MatRef, Par};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::{EccError, Result, invalid};

/// The type-2 (output check) vectors of a code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Type2 {
    /// No output checks.
    None,
    /// One check `c = 1`: the last output is minus the sum of the others (the paper's choice).
    AllOnes,
    /// `count` Gaussian checks drawn from the code's seed (stream `u64::MAX`); several
    /// checks make cancelling faults rare and allow locating datapath errors.
    Random {
        /// Number of checks `L`.
        count: usize,
    },
    /// Explicit check vectors, each of length `cols`.
    Explicit(Vec<Vec<f64>>),
}

/// Parameters of a [`WeightCode`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CodeConfig {
    /// Inputs (rows of the array, bias row included) per group; the last group takes the rest.
    /// 0 means one group of all rows.
    pub group_rows: usize,
    /// Type-1 constraints `K` per group.
    pub type1_per_group: usize,
    /// Output checks.
    pub type2: Type2,
    /// Seed of the Gaussian matrices (ChaCha8, stream = group index).
    pub seed: u64,
}

impl CodeConfig {
    /// The setting used for the digits network's first layer (65 x 50): groups of 13 inputs
    /// (5 groups of 650 weights), 60 type-1 constraints per group and the all-ones check:
    /// 60 + 13 = 73 constraints per group, 365 in all, rate 1 - 365/3250 = 0.888. 60 is the
    /// statistical dimension plus half a window, `D(8, 650) + 0.5 sqrt(650) = 59.5`: enough for
    /// L1 decoding of about 8 memory errors per group (`reference/ecc-math.md` A.7).
    pub fn digits_default() -> CodeConfig {
        CodeConfig {
            group_rows: 13,
            type1_per_group: 60,
            type2: Type2::AllOnes,
            seed: 0,
        }
    }
}

#[derive(Clone, Debug)]
struct Group {
    row0: usize,
    nrows: usize,
    /// `N_g x p_g`, orthonormal columns spanning the constraint vectors.
    q: Mat<f64>,
}

/// A real-number code on a `rows x cols` weight array (see the module docs).
///
/// ```
/// use faer::Mat;
/// use xbar_ecc::rnecc::{CodeConfig, Type2, WeightCode};
/// let cfg = CodeConfig { group_rows: 4, type1_per_group: 6, type2: Type2::AllOnes, seed: 1 };
/// let code = WeightCode::new(8, 5, &cfg)?;
/// let mut h = Mat::from_fn(8, 5, |i, j| ((i * 7 + j * 3) % 11) as f64 - 5.0);
/// code.project(h.as_mut());
/// assert!(code.max_relative_residual(h.as_ref()) < 1e-12);
/// // Every output sums to zero: row sums of H vanish.
/// let row0: f64 = (0..5).map(|j| h[(0, j)]).sum();
/// assert!(row0.abs() < 1e-12);
/// # Ok::<(), xbar_ecc::EccError>(())
/// ```
#[derive(Clone, Debug)]
pub struct WeightCode {
    rows: usize,
    cols: usize,
    cfg: CodeConfig,
    /// `L x cols` check vectors.
    c: Mat<f64>,
    groups: Vec<Group>,
}

impl WeightCode {
    /// Builds the code: draws the `A_k`, stacks them with the type-2 vectors and factors each
    /// group once. Fails if a group has more constraints than unknowns or its constraints are
    /// numerically dependent (`|R_ii| < 1e-10 max |R_ii|`).
    pub fn new(rows: usize, cols: usize, cfg: &CodeConfig) -> Result<WeightCode> {
        if rows == 0 || cols == 0 {
            return Err(EccError::Shape {
                what: format!("an empty {rows} x {cols} array"),
            });
        }
        let c = check_vectors(&cfg.type2, cols, cfg.seed)?;
        let group_rows = if cfg.group_rows == 0 {
            rows
        } else {
            cfg.group_rows.min(rows)
        };
        let mut groups = Vec::new();
        let mut row0 = 0;
        while row0 < rows {
            let nrows = group_rows.min(rows - row0);
            groups.push(Group {
                row0,
                nrows,
                q: Mat::zeros(0, 0),
            });
            row0 += nrows;
        }
        let mut code = WeightCode {
            rows,
            cols,
            cfg: cfg.clone(),
            c,
            groups,
        };
        for g in 0..code.groups.len() {
            let b = code.constraint_matrix(g).transpose().to_owned();
            let (n, p) = (b.nrows(), b.ncols());
            if p > n {
                return Err(invalid(
                    "constraints per group",
                    p,
                    format!("at most the {n} weights of group {g}"),
                ));
            }
            code.groups[g].q = thin_q(b, g)?;
        }
        Ok(code)
    }

    /// Array rows (inputs, bias included).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Array columns (outputs).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The configuration.
    pub fn config(&self) -> &CodeConfig {
        &self.cfg
    }

    /// Number of groups.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// First row and number of rows of group `g`.
    pub fn group_rows(&self, g: usize) -> (usize, usize) {
        (self.groups[g].row0, self.groups[g].nrows)
    }

    /// The `L x cols` output check vectors (`H c_l = 0`).
    pub fn checks(&self) -> MatRef<'_, f64> {
        self.c.as_ref()
    }

    /// Total number of constraints `p = sum_g p_g`.
    pub fn constraint_count(&self) -> usize {
        self.groups.iter().map(|g| g.q.ncols()).sum()
    }

    /// Code rate `(N - p) / N`: the fraction of the weights that remain free.
    pub fn rate(&self) -> f64 {
        let n = (self.rows * self.cols) as f64;
        (n - self.constraint_count() as f64) / n
    }

    /// The `K x N_g` type-1 matrix of group `g` (row `k` is `vec(A_k)`), regenerated from the
    /// seed: ChaCha8 seeded with `seed` on stream `g`, standard normal draws in row-major order.
    pub fn type1_matrix(&self, g: usize) -> Mat<f64> {
        let none = Mat::<f64>::zeros(0, self.cols);
        constraint_rows(
            self.groups[g].nrows,
            none.as_ref(),
            self.cfg.type1_per_group,
            self.cfg.seed,
            g as u64,
        )
    }

    /// All constraint rows of group `g` stacked: `M_g` (`p_g x N_g`), type 1 first, then for
    /// each check `l` and each row `i` of the group the vector `c_l` placed on that row.
    pub fn constraint_matrix(&self, g: usize) -> Mat<f64> {
        constraint_rows(
            self.groups[g].nrows,
            self.c.as_ref(),
            self.cfg.type1_per_group,
            self.cfg.seed,
            g as u64,
        )
    }

    /// The orthonormal basis `Q_g` (`N_g x p_g`) of group `g`'s constraint vectors.
    pub fn q(&self, g: usize) -> MatRef<'_, f64> {
        self.groups[g].q.as_ref()
    }

    fn check_shape(&self, r: usize, c: usize) {
        assert!(
            r == self.rows && c == self.cols,
            "WeightCode: a {r} x {c} matrix for a {} x {} code",
            self.rows,
            self.cols
        );
    }

    /// Projects `h` (`rows x cols`) onto the code in place: per group,
    /// `vec(H_g) -= Q_g (Q_g^T vec(H_g))`. Also the projector for gradients and update steps.
    ///
    /// # Panics
    /// If `h` is not `rows x cols`.
    pub fn project(&self, mut h: MatMut<'_, f64>) {
        self.check_shape(h.nrows(), h.ncols());
        for g in &self.groups {
            let mut v = gather(h.as_ref(), g.row0, g.nrows);
            let mut coef = Mat::<f64>::zeros(g.q.ncols(), 1);
            faer::linalg::matmul::matmul(
                coef.as_mut(),
                Accum::Replace,
                g.q.transpose(),
                v.as_ref(),
                1.0,
                Par::Seq,
            );
            faer::linalg::matmul::matmul(
                v.as_mut(),
                Accum::Add,
                g.q.as_ref(),
                coef.as_ref(),
                -1.0,
                Par::Seq,
            );
            scatter(v.as_ref(), h.as_mut(), g.row0, g.nrows);
        }
    }

    /// Projects a gradient (or an update step) of the layer, in array layout, onto the code's
    /// null space: `g <- g - Q Q^T g`, so that a step along it keeps every constraint. The
    /// same operation as [`WeightCode::project`], named for its use in training loops.
    ///
    /// # Panics
    /// If `g` is not `rows x cols`.
    pub fn project_gradient(&self, g: MatMut<'_, f64>) {
        self.project(g);
    }

    /// The syndrome `M_g vec(H_g)` of every group (`p_g` values each): type-1 entries first,
    /// then type-2. Zero (to rounding) for a codeword.
    ///
    /// # Panics
    /// If `h` is not `rows x cols`.
    pub fn syndrome(&self, h: MatRef<'_, f64>) -> Vec<Vec<f64>> {
        self.check_shape(h.nrows(), h.ncols());
        (0..self.groups.len())
            .map(|g| {
                let grp = &self.groups[g];
                let m = self.constraint_matrix(g);
                let v = gather(h, grp.row0, grp.nrows);
                let s = &m * &v;
                (0..s.nrows()).map(|i| s[(i, 0)]).collect()
            })
            .collect()
    }

    /// The whitened syndrome `Q_g^T vec(H_g)` of every group: the same information as
    /// [`WeightCode::syndrome`] with orthonormal measurement rows (white noise stays white).
    ///
    /// # Panics
    /// If `h` is not `rows x cols`.
    pub fn syndrome_q(&self, h: MatRef<'_, f64>) -> Vec<Vec<f64>> {
        self.check_shape(h.nrows(), h.ncols());
        self.groups
            .iter()
            .map(|g| {
                let v = gather(h, g.row0, g.nrows);
                let s = g.q.transpose() * &v;
                (0..s.nrows()).map(|i| s[(i, 0)]).collect()
            })
            .collect()
    }

    /// `max_k |constraint_k(H)| / ||H||_F` over all constraints (0 for a zero matrix): how well
    /// `h` satisfies the code, relative to its size.
    pub fn max_relative_residual(&self, h: MatRef<'_, f64>) -> f64 {
        let norm = h.norm_l2();
        if norm == 0.0 {
            return 0.0;
        }
        let worst = self
            .syndrome(h)
            .iter()
            .flatten()
            .fold(0.0f64, |a, v| a.max(v.abs()));
        worst / norm
    }
}

/// The `L x cols` check vectors of a type-2 setting.
/// The constraint rows of one code group of `nrows` array rows and `c.ncols()` columns, on
/// `N_g = nrows x cols` unknowns ordered row by row: `k` Gaussian type-1 rows (`vec(A_k)`,
/// i.i.d. `N(0, 1)`, ChaCha8 `seed` on stream `group`, drawn row by row), then for each check
/// vector `c_l` (a row of `c`) and each array row `i` the vector `c_l` placed on that row.
/// The one builder of the code's constraint matrix: [`WeightCode::constraint_matrix`] and the
/// decoding instances of `xbar-correct` both call it.
///
/// ```
/// use faer::Mat;
/// let ones = Mat::from_fn(1, 4, |_, _| 1.0);
/// let m = xbar_ecc::rnecc::constraint_rows(3, ones.as_ref(), 5, 7, 0);
/// assert_eq!((m.nrows(), m.ncols()), (5 + 3, 12));
/// assert_eq!(m[(5 + 1, 4)], 1.0); // row 1's check covers unknowns 4..8
/// ```
pub fn constraint_rows(
    nrows: usize,
    c: MatRef<'_, f64>,
    k: usize,
    seed: u64,
    group: u64,
) -> Mat<f64> {
    let cols = c.ncols();
    let n = nrows * cols;
    let l = c.nrows();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(group);
    let mut m = Mat::<f64>::zeros(k + l * nrows, n);
    for i in 0..k {
        for t in 0..n {
            m[(i, t)] = StandardNormal.sample(&mut rng);
        }
    }
    for li in 0..l {
        for i in 0..nrows {
            for j in 0..cols {
                m[(k + li * nrows + i, i * cols + j)] = c[(li, j)];
            }
        }
    }
    m
}

fn check_vectors(t: &Type2, cols: usize, seed: u64) -> Result<Mat<f64>> {
    Ok(match t {
        Type2::None => Mat::zeros(0, cols),
        Type2::AllOnes => Mat::from_fn(1, cols, |_, _| 1.0),
        Type2::Random { count } => {
            if *count >= cols {
                return Err(invalid(
                    "type2.count",
                    count,
                    format!("fewer checks than outputs ({cols})"),
                ));
            }
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(u64::MAX);
            let mut m = Mat::<f64>::zeros(*count, cols);
            for l in 0..*count {
                for j in 0..cols {
                    m[(l, j)] = StandardNormal.sample(&mut rng);
                }
            }
            m
        }
        Type2::Explicit(v) => {
            if v.len() >= cols || v.iter().any(|c| c.len() != cols) {
                return Err(EccError::Shape {
                    what: format!("type-2 checks: need fewer than {cols} vectors of length {cols}"),
                });
            }
            Mat::from_fn(v.len(), cols, |l, j| v[l][j])
        }
    })
}

/// `vec` of rows `row0 .. row0 + nrows` of `h` as an `N x 1` column (input by input).
fn gather(h: MatRef<'_, f64>, row0: usize, nrows: usize) -> Mat<f64> {
    let cols = h.ncols();
    Mat::from_fn(nrows * cols, 1, |t, _| h[(row0 + t / cols, t % cols)])
}

fn scatter(v: MatRef<'_, f64>, mut h: MatMut<'_, f64>, row0: usize, nrows: usize) {
    let cols = h.ncols();
    for t in 0..nrows * cols {
        h[(row0 + t / cols, t % cols)] = v[(t, 0)];
    }
}

/// Thin `Q` of a Householder QR of `b` (`n x p`, `p <= n`), sequential so that the result does
/// not depend on the thread count; checks the diagonal of `R` for dependence.
fn thin_q(mut b: Mat<f64>, group: usize) -> Result<Mat<f64>> {
    let (n, p) = (b.nrows(), b.ncols());
    if p == 0 {
        return Ok(Mat::zeros(n, 0));
    }
    let bs = recommended_block_size::<f64>(n, p);
    let mut coeff = Mat::<f64>::zeros(bs, p);
    let par = Par::Seq;
    let mut mem = MemBuffer::new(qr_in_place_scratch::<f64>(
        n,
        p,
        bs,
        par,
        Default::default(),
    ));
    qr_in_place(
        b.as_mut(),
        coeff.as_mut(),
        par,
        MemStack::new(&mut mem),
        Default::default(),
    );
    let (mut r_min, mut r_max) = (f64::INFINITY, 0.0f64);
    for i in 0..p {
        let d = b[(i, i)].abs();
        r_min = r_min.min(d);
        r_max = r_max.max(d);
    }
    if r_min.is_nan() || r_min <= 1e-10 * r_max {
        return Err(EccError::DependentConstraints {
            group,
            r_min,
            r_max,
        });
    }
    // Householder basis: unit lower trapezoid of the factored matrix.
    let mut basis = b;
    for j in 0..p {
        for i in 0..=j.min(n - 1) {
            basis[(i, j)] = if i == j { 1.0 } else { 0.0 };
        }
    }
    let mut q = Mat::<f64>::identity(n, p);
    let mut mem = MemBuffer::new(
        faer::linalg::householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<
            f64,
        >(n, bs, p),
    );
    apply_block_householder_sequence_on_the_left_in_place_with_conj(
        basis.as_ref(),
        coeff.as_ref(),
        Conj::No,
        q.as_mut(),
        par,
        MemStack::new(&mut mem),
    );
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_is_orthonormal_and_spans_the_constraints() {
        let cfg = CodeConfig {
            group_rows: 5,
            type1_per_group: 7,
            type2: Type2::Random { count: 2 },
            seed: 3,
        };
        let code = WeightCode::new(12, 6, &cfg).unwrap();
        assert_eq!(code.groups(), 3);
        for g in 0..code.groups() {
            let q = code.q(g);
            let qtq = q.transpose() * q;
            for i in 0..qtq.nrows() {
                for j in 0..qtq.ncols() {
                    let e = if i == j { 1.0 } else { 0.0 };
                    assert!((qtq[(i, j)] - e).abs() < 1e-12);
                }
            }
            // Every constraint vector lies in span(Q): m - Q Q^T m = 0.
            let m = code.constraint_matrix(g).transpose().to_owned();
            let resid = &m - q * (q.transpose() * &m);
            assert!(resid.norm_l2() < 1e-10 * m.norm_l2());
        }
    }

    #[test]
    fn too_many_constraints_is_an_error() {
        let cfg = CodeConfig {
            group_rows: 2,
            type1_per_group: 20,
            type2: Type2::AllOnes,
            seed: 0,
        };
        assert!(WeightCode::new(4, 5, &cfg).is_err());
        let dup = CodeConfig {
            group_rows: 0,
            type1_per_group: 0,
            type2: Type2::Explicit(vec![vec![1.0, 2.0, 3.0], vec![2.0, 4.0, 6.0]]),
            seed: 0,
        };
        assert!(matches!(
            WeightCode::new(3, 4, &dup),
            Err(EccError::Shape { .. })
        ));
        let dup = CodeConfig {
            group_rows: 0,
            type1_per_group: 0,
            type2: Type2::Explicit(vec![vec![1.0, 2.0, 3.0, 0.0], vec![2.0, 4.0, 6.0, 0.0]]),
            seed: 0,
        };
        assert!(matches!(
            WeightCode::new(3, 4, &dup),
            Err(EccError::DependentConstraints { .. })
        ));
    }
}
