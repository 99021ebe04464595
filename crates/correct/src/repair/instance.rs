//! Random decoding instances for tests, benchmarks and phase-transition experiments, all
//! deterministic functions of a seed (ChaCha8 streams, standard normal draws).

use std::io::Write;
use std::path::Path;

use faer::Mat;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::{Decoded, RepairConfig, decode_with};
use crate::CorrectError;

/// Outputs (rows of `W`) of the paper's code groups: the hidden layer of 784-256-10.
pub const GROUP_OUTPUTS: usize = 256;
/// Inputs (columns of `W`) per group: 784 = 56 groups of 14.
pub const GROUP_INPUTS: usize = 14;
/// Unknowns per group, `256 * 14 = 3584`.
pub const GROUP_N: usize = GROUP_OUTPUTS * GROUP_INPUTS;

/// ChaCha8 stream of the error draws (the matrices use streams from 0 up).
const ERROR_STREAM: u64 = 1 << 40;

/// A decoding instance: checks `M`, a sparse error `e0` and its syndrome `sigma = M e0`.
#[derive(Clone, Debug)]
pub struct Instance {
    /// The `p x N` check matrix.
    pub m: Mat<f64>,
    /// The true error (length `N`).
    pub e0: Vec<f64>,
    /// `M e0` (length `p`).
    pub sigma: Vec<f64>,
    /// The seed it was drawn from.
    pub seed: u64,
}

impl Instance {
    /// Builds the syndrome of `e0`.
    pub fn new(m: Mat<f64>, e0: Vec<f64>, seed: u64) -> Instance {
        let mut sigma = vec![0.0; m.nrows()];
        for (j, &v) in e0.iter().enumerate() {
            if v != 0.0 {
                for (i, s) in sigma.iter_mut().enumerate() {
                    *s += m[(i, j)] * v;
                }
            }
        }
        Instance { m, e0, sigma, seed }
    }

    /// Number of nonzero errors.
    pub fn sparsity(&self) -> usize {
        self.e0.iter().filter(|&&v| v != 0.0).count()
    }
}

/// An `s`-sparse error of length `n`: positions uniform without replacement (a partial
/// Fisher-Yates shuffle), values `N(0, 1)`.
pub fn sparse_error(n: usize, s: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let s = s.min(n);
    let mut perm: Vec<usize> = (0..n).collect();
    let mut e = vec![0.0; n];
    for i in 0..s {
        let k = rng.random_range(i..n);
        perm.swap(i, k);
        let mut v: f64 = StandardNormal.sample(rng);
        while v == 0.0 {
            v = StandardNormal.sample(rng);
        }
        e[perm[i]] = v;
    }
    e
}

/// A Gaussian instance for phase-transition trials: `M` is `p x n` with i.i.d. `N(0, 1/p)`
/// entries (ChaCha8 `seed`, stream 0, row by row) and `e0` is `s`-sparse with `N(0, 1)`
/// values (stream `2^40`).
///
/// ```
/// use xbar_correct::repair::gaussian_instance;
/// let a = gaussian_instance(20, 50, 3, 1);
/// let b = gaussian_instance(20, 50, 3, 1);
/// assert_eq!(a.sigma, b.sigma);
/// assert_eq!(a.sparsity(), 3);
/// ```
pub fn gaussian_instance(p: usize, n: usize, s: usize, seed: u64) -> Instance {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let scale = 1.0 / (p.max(1) as f64).sqrt();
    let mut m = Mat::<f64>::zeros(p, n);
    for i in 0..p {
        for j in 0..n {
            let g: f64 = StandardNormal.sample(&mut rng);
            m[(i, j)] = scale * g;
        }
    }
    let mut erng = ChaCha8Rng::seed_from_u64(seed);
    erng.set_stream(ERROR_STREAM);
    let e0 = sparse_error(n, s, &mut erng);
    Instance::new(m, e0, seed)
}

/// The checks of one group of the paper's code (`reference/ecc-math.md` A.8): `k` Gaussian
/// type-1 rows (`vec(A_k)`, i.i.d. `N(0, 1)`, ChaCha8 `seed` on stream `group`, row by row)
/// and the 14 type-2 rows "each input's 256 weights sum to zero" (`c = 1`), on
/// `N = 3584` unknowns ordered input by input: [`xbar_ecc::rnecc::constraint_rows`], the
/// builder `xbar_ecc::rnecc::WeightCode::constraint_matrix(group)` uses, for a 256-output
/// array with `group_rows = 14`, `type1_per_group = k`, `type2 = AllOnes` and the same seed.
///
/// ```
/// use xbar_correct::repair::{GROUP_N, group_matrix};
/// let m = group_matrix(110, 0, 0);
/// assert_eq!((m.nrows(), m.ncols()), (124, GROUP_N));
/// assert_eq!(m[(110, 0)], 1.0);
/// ```
pub fn group_matrix(k: usize, seed: u64, group: u64) -> Mat<f64> {
    let ones = Mat::from_fn(1, GROUP_OUTPUTS, |_, _| 1.0);
    xbar_ecc::rnecc::constraint_rows(GROUP_INPUTS, ones.as_ref(), k, seed, group)
}

/// A 256x14 group instance: [`group_matrix`]`(k, seed, 0)` and an `s`-sparse `N(0, 1)` error
/// (ChaCha8 `seed`, stream `2^40`).
///
/// ```
/// use xbar_correct::repair::{group_instance, k_for};
/// let inst = group_instance(k_for(10, 3584), 10, 0);
/// assert_eq!(inst.m.nrows(), 124);
/// assert_eq!(inst.sparsity(), 10);
/// ```
pub fn group_instance(k: usize, s: usize, seed: u64) -> Instance {
    let m = group_matrix(k, seed, 0);
    let mut erng = ChaCha8Rng::seed_from_u64(seed);
    erng.set_stream(ERROR_STREAM);
    let e0 = sparse_error(GROUP_N, s, &mut erng);
    Instance::new(m, e0, seed)
}

/// The success criterion of the phase-transition experiments:
/// `||e_hat - e0||_2 <= 1e-4 max(1, ||e0||_2)`.
pub fn trial_success(e_hat: &[f64], e0: &[f64]) -> bool {
    trial_error(e_hat, e0) <= 1e-4 * norm(e0).max(1.0)
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn trial_error(e_hat: &[f64], e0: &[f64]) -> f64 {
    e_hat
        .iter()
        .zip(e0)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        .sqrt()
}

/// Which decoder a trial or benchmark runs ([`decode_with`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// The cascade [`crate::repair::decode`].
    Cascade,
    /// [`crate::repair::single_error`].
    SingleError,
    /// [`crate::repair::omp`].
    Omp,
    /// [`crate::repair::homotopy`] (the fast exact L1 decoder).
    Homotopy,
    /// [`crate::repair::clarabel`] in dual form.
    Clarabel,
    /// [`crate::repair::clarabel`] in split form.
    ClarabelSplit,
}

impl Method {
    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Cascade => "cascade",
            Method::SingleError => "single-error",
            Method::Omp => "omp",
            Method::Homotopy => "homotopy",
            Method::Clarabel => "clarabel",
            Method::ClarabelSplit => "clarabel-split",
        }
    }
}

/// One trial of an instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// [`trial_success`] of the estimate, whatever its status.
    pub success: bool,
    /// `||e_hat - e0||_2`.
    pub error: f64,
    /// `||e0||_2`.
    pub error_norm: f64,
    /// The decoder's full output.
    pub decoded: Decoded,
}

/// Decodes `inst` with `method` and scores the estimate against the truth. For
/// phase-transition curves set `max_support` high (e.g. `p / 2`) so that the design bound does
/// not cut the L1 decoders short, and `early_exit: false` for the exact L1 (LP) curve with
/// [`Method::Homotopy`] (the early exit may also certify a sparse solution that L1 misses).
///
/// ```
/// use xbar_correct::repair::{Method, RepairConfig, gaussian_instance, run_trial};
/// let inst = gaussian_instance(50, 200, 5, 3);
/// let cfg = RepairConfig { max_support: 25, ..RepairConfig::default() };
/// assert!(run_trial(&inst, Method::Homotopy, &cfg)?.success);
/// # Ok::<(), xbar_correct::CorrectError>(())
/// ```
pub fn run_trial(
    inst: &Instance,
    method: Method,
    cfg: &RepairConfig,
) -> Result<Trial, CorrectError> {
    let decoded = decode_with(method, inst.m.as_ref(), &inst.sigma, cfg)?;
    Ok(Trial {
        success: trial_success(&decoded.e, &inst.e0),
        error: trial_error(&decoded.e, &inst.e0),
        error_norm: norm(&inst.e0),
        decoded,
    })
}

/// One phase-transition trial: [`gaussian_instance`]`(p, n, s, seed)` decoded by `method`.
///
/// ```
/// use xbar_correct::repair::{Method, RepairConfig, phase_trial};
/// let cfg = RepairConfig { max_support: 20, ..RepairConfig::default() };
/// let t = phase_trial(40, 200, 4, 0, Method::Homotopy, &cfg)?;
/// assert!(t.success);
/// # Ok::<(), xbar_correct::CorrectError>(())
/// ```
pub fn phase_trial(
    p: usize,
    n: usize,
    s: usize,
    seed: u64,
    method: Method,
    cfg: &RepairConfig,
) -> Result<Trial, CorrectError> {
    run_trial(&gaussian_instance(p, n, s, seed), method, cfg)
}

/// Writes the LP of `inst` for other solvers (scripts/highs_repair.py): `M_rowmajor_f64le.bin`
/// (`p x N`, row-major), `sigma_f64le.bin`, `e0_f64le.bin` (raw little-endian f64) and
/// `meta.json` (`p`, `n`, `s`, `seed`, file names). Creates `dir` if needed.
pub fn export_lp(dir: &Path, inst: &Instance) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let write = |name: &str, vals: &mut dyn Iterator<Item = f64>| -> std::io::Result<()> {
        let mut buf = Vec::new();
        for v in vals {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        let mut f = std::fs::File::create(dir.join(name))?;
        f.write_all(&buf)?;
        f.sync_all()
    };
    let (p, n) = (inst.m.nrows(), inst.m.ncols());
    write(
        "M_rowmajor_f64le.bin",
        &mut (0..p)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| inst.m[(i, j)]),
    )?;
    write("sigma_f64le.bin", &mut inst.sigma.iter().copied())?;
    write("e0_f64le.bin", &mut inst.e0.iter().copied())?;
    let meta = format!(
        "{{\n  \"p\": {p},\n  \"n\": {n},\n  \"s\": {},\n  \"seed\": {},\n  \"M\": \"M_rowmajor_f64le.bin\",\n  \"sigma\": \"sigma_f64le.bin\",\n  \"e0\": \"e0_f64le.bin\"\n}}\n",
        inst.sparsity(),
        inst.seed
    );
    std::fs::write(dir.join("meta.json"), meta)
}

/// Phase-transition helper used by tests: the success count of `method` over `trials` seeds.
#[cfg(test)]
pub(crate) fn success_count(
    p: usize,
    n: usize,
    s: usize,
    trials: u64,
    method: Method,
    cfg: &RepairConfig,
) -> usize {
    (0..trials)
        .filter(|&seed| {
            run_trial(&gaussian_instance(p, n, s, seed), method, cfg)
                .map(|t| t.success)
                .unwrap_or(false)
        })
        .count()
}
