//! The phase-transition study (`[phase-transition]`, Li et al. Fig. 2): L1 decoding success
//! versus the number of Gaussian checks, beside the statistical-dimension prediction.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use xbar_correct::repair::{decode_with, gaussian_instance, statistical_dimension, trial_success};

use crate::{Driver, ExperimentError, PhaseTransitionSpec, Progress, Study, fnv1a64};

/// One row of `phase.csv`: a (N, K) point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseRow {
    /// Unknowns `N`.
    pub unknowns: u32,
    /// Gaussian checks `K`.
    pub constraints: u32,
    /// Nonzero errors `s`.
    pub errors: u32,
    /// Instances decoded.
    pub trials: u32,
    /// Instances recovered (`||e_hat - e||_2 <= 1e-4 max(1, ||e||_2)`).
    pub successes: u32,
    /// `successes / trials`.
    pub rate: f64,
    /// The statistical dimension `D(s, N)`: the predicted 50 % point in `K`.
    pub predicted_d: f64,
    /// Median decoding time per instance, in ms (excludes drawing the instance; varies from
    /// run to run, unlike every other column).
    pub median_decode_ms: f64,
}

/// The seed of instance `trial` at `(N, K)`: FNV-1a of the experiment seed and the
/// coordinates, so every instance has its own ChaCha8 streams whatever the thread count.
pub fn phase_seed(seed: u64, n: usize, k: usize, s: usize, trial: usize) -> u64 {
    fnv1a64(format!("phase-transition/{seed}/n={n}/k={k}/s={s}/trial={trial}").as_bytes())
}

/// The phase transition as a [`Study`]: one job per (N, K, trial) decoding instance; its
/// outputs (recovered?, seconds) become the rows of `phase.csv` with [`PhaseStudy::rows`].
pub struct PhaseStudy<'a> {
    seed: u64,
    spec: &'a PhaseTransitionSpec,
}

impl<'a> PhaseStudy<'a> {
    /// The study of `spec` under experiment seed `seed`.
    pub fn new(seed: u64, spec: &'a PhaseTransitionSpec) -> PhaseStudy<'a> {
        PhaseStudy { seed, spec }
    }

    /// Rows in the order N, then K, from the outputs of every job in job order; all
    /// columns but the timing one are identical for any thread count.
    pub fn rows(&self, outcomes: &[(bool, f64)]) -> Vec<PhaseRow> {
        let spec = self.spec;
        let s = spec.errors;
        let mut rows = Vec::with_capacity(spec.points());
        let mut it = outcomes.iter();
        for &n in &spec.unknowns {
            let predicted_d = statistical_dimension(s, n);
            for k in spec.ks(n) {
                let mut successes = 0u32;
                let mut times = Vec::with_capacity(spec.trials);
                for _ in 0..spec.trials {
                    let &(ok, secs) = it.next().expect("one outcome per job");
                    successes += u32::from(ok);
                    times.push(secs);
                }
                times.sort_by(f64::total_cmp);
                let mid = times.len() / 2;
                let median = if times.len() % 2 == 1 {
                    times[mid]
                } else {
                    0.5 * (times[mid - 1] + times[mid])
                };
                rows.push(PhaseRow {
                    unknowns: n as u32,
                    constraints: k as u32,
                    errors: s as u32,
                    trials: spec.trials as u32,
                    successes,
                    rate: f64::from(successes) / spec.trials as f64,
                    predicted_d,
                    median_decode_ms: 1e3 * median,
                });
            }
        }
        rows
    }
}

impl Study for PhaseStudy<'_> {
    /// (N, K, trial).
    type Job = (usize, usize, usize);
    /// (recovered, decoding seconds).
    type Output = (bool, f64);
    type Scratch = ();

    fn name(&self) -> &'static str {
        "phase-transition"
    }
    fn jobs(&self) -> Vec<(usize, usize, usize)> {
        let spec = self.spec;
        spec.unknowns
            .iter()
            .flat_map(|&n| {
                spec.ks(n)
                    .into_iter()
                    .flat_map(move |k| (0..spec.trials).map(move |t| (n, k, t)))
            })
            .collect()
    }
    fn key(&self, &(n, k, t): &(usize, usize, usize)) -> u64 {
        phase_seed(self.seed, n, k, self.spec.errors, t)
    }
    fn cost(&self, &(n, k, _): &(usize, usize, usize)) -> f64 {
        // K x N per homotopy step, steps growing with K.
        (k * k * n) as f64
    }
    fn class(&self, &(n, _, _): &(usize, usize, usize)) -> u64 {
        n as u64
    }
    fn scratch(&self) {}
    fn run(
        &self,
        &(n, k, t): &(usize, usize, usize),
        _: &mut (),
    ) -> Result<(bool, f64), ExperimentError> {
        let s = self.spec.errors;
        let inst = gaussian_instance(k, n, s, phase_seed(self.seed, n, k, s, t));
        let (method, cfg) = self.spec.decoder.phase_config(k);
        let start = Instant::now();
        let d = decode_with(method, inst.m.as_ref(), &inst.sigma, &cfg)?;
        let secs = start.elapsed().as_secs_f64();
        Ok((trial_success(&d.e, &inst.e0), secs))
    }
}

/// Runs every (N, K, trial) instance in parallel on the current rayon pool, without a
/// journal; rows come in the order N, then K.
pub fn run_phase_transition(
    seed: u64,
    spec: &PhaseTransitionSpec,
    progress: &dyn Progress,
) -> Result<Vec<PhaseRow>, ExperimentError> {
    let study = PhaseStudy::new(seed, spec);
    let out = Driver::in_memory(progress).run(&study)?;
    Ok(study.rows(&out))
}

/// The 50 % point of the success rate of unknowns `n` (rows sorted by `K`), by linear
/// interpolation between the last point below 0.5 and the first point at or above it that
/// follows; `None` if the curve never crosses 0.5 in the swept range.
///
/// ```
/// use xbar_experiment::{PhaseRow, crossing_50};
/// let row = |k: u32, rate: f64| PhaseRow {
///     unknowns: 400, constraints: k, errors: 10, trials: 10, successes: (rate * 10.0) as u32,
///     rate, predicted_d: 49.2, median_decode_ms: 0.0,
/// };
/// let rows = [row(40, 0.0), row(50, 0.4), row(60, 0.8)];
/// assert_eq!(crossing_50(&rows, 400), Some(52.5));
/// ```
pub fn crossing_50(rows: &[PhaseRow], n: u32) -> Option<f64> {
    let mut pts: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.unknowns == n)
        .map(|r| (f64::from(r.constraints), r.rate))
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    if pts.first().is_some_and(|p| p.1 >= 0.5) {
        return None;
    }
    pts.windows(2).find_map(|w| {
        let ((k0, r0), (k1, r1)) = (w[0], w[1]);
        (r0 < 0.5 && r1 >= 0.5).then(|| k0 + (0.5 - r0) / (r1 - r0) * (k1 - k0))
    })
}
