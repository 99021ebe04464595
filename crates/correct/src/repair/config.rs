//! Settings of the repair decoders.

use serde::{Deserialize, Serialize};

use crate::CorrectError;

/// Which Clarabel formulation of basis pursuit `min ||e||_1 s.t. M e = sigma` to solve
/// (`reference/ecc-math.md` A.6; timings in `reference/deps.md` section 6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LpForm {
    /// The dual LP `max sigma^T y s.t. ||M^T y||_inf <= 1`; `e` is read from the multipliers
    /// of the box constraints. Its KKT system has only a dense `p x p` Schur block: the fastest
    /// Clarabel form for a dense `M`.
    #[default]
    Dual,
    /// Split variables `e = u - v`, `u, v >= 0` (form F1). The KKT system fills in badly under
    /// QDLDL's ordering with a dense `M`; kept as the textbook reference.
    Split,
}

/// Settings shared by every decoder and by the cascade [`crate::repair::decode`].
///
/// Tolerances: a decoded `e` *explains* the syndrome when
/// `||M e - sigma||_2 <= tolerance = rel_tol * ||sigma||_2 + noise_std * sqrt(p + 3 sqrt(2 p))`
/// (the second term is a safe radius for white syndrome noise of standard deviation
/// `noise_std` on `p` checks, `reference/ecc-math.md` A.6). Entries with
/// `|e_i| < threshold_abs + threshold_rel * max_j |e_j|` are set to zero before the
/// least-squares debias on the remaining support.
///
/// ```
/// use xbar_correct::repair::RepairConfig;
/// let cfg = RepairConfig { max_support: 20, ..RepairConfig::default() };
/// assert!(cfg.validate().is_ok());
/// let bad = RepairConfig { rel_tol: -1.0, ..RepairConfig::default() };
/// assert!(bad.validate().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RepairConfig {
    /// Design sparsity bound: the most memory errors per group the code is built to correct.
    /// A decoded support larger than this is reported `Uncorrectable`. Default 10.
    pub max_support: usize,
    /// Most datapath errors the joint decoder ([`crate::repair::clarabel_joint`]) may place.
    /// Default 2.
    pub max_datapath_support: usize,
    /// Relative residual tolerance (dimensionless, times `||sigma||_2`). Default 1e-9.
    pub rel_tol: f64,
    /// Standard deviation of the noise on each syndrome entry (units of the syndrome); 0 for
    /// exact syndromes. Default 0.
    pub noise_std: f64,
    /// Absolute part of the zeroing threshold (units of `e`). Default 1e-10.
    pub threshold_abs: f64,
    /// Relative part of the zeroing threshold (times `max |e_i|`). Default 1e-7.
    pub threshold_rel: f64,
    /// A sparse correction whose residual is above the tolerance but at most this fraction
    /// of `||sigma||_2` is reported `Partial` rather than `Uncorrectable`. Default 1e-2.
    pub partial_fraction: f64,
    /// Cascade: try the single-error correlation decoder first. Default true.
    pub single_error: bool,
    /// Cascade: try orthogonal matching pursuit (up to `max_support` atoms). Default true.
    pub omp: bool,
    /// Cascade: try the exact L1 homotopy. Default true.
    pub homotopy: bool,
    /// Cascade: finish with the Clarabel LP when the others did not recover (seconds per
    /// 256x14 group). Default false.
    pub clarabel: bool,
    /// Formulation for the Clarabel LP. Default `dual`.
    pub clarabel_form: LpForm,
    /// Most homotopy steps; 0 means automatic, `4 p + 100` for `p` checks. Default 0.
    pub max_steps: usize,
    /// Let the homotopy stop as soon as the least-squares fit on its active set explains the
    /// syndrome with at most `max_support` columns (a certified answer, the L1 solution
    /// whenever L1 recovers); false runs the path to `lambda = 0` (the exact basis-pursuit
    /// solution, also when it is not sparse). Default true.
    pub early_exit: bool,
}

impl Default for RepairConfig {
    fn default() -> Self {
        RepairConfig {
            max_support: 10,
            max_datapath_support: 2,
            rel_tol: 1e-9,
            noise_std: 0.0,
            threshold_abs: 1e-10,
            threshold_rel: 1e-7,
            partial_fraction: 1e-2,
            single_error: true,
            omp: true,
            homotopy: true,
            clarabel: false,
            clarabel_form: LpForm::Dual,
            max_steps: 0,
            early_exit: true,
        }
    }
}

/// One problem found by [`RepairConfig::validate`].
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigIssue {
    /// The offending field (kebab-case, as in TOML).
    pub field: &'static str,
    /// Its value.
    pub value: String,
    /// What is accepted.
    pub expected: &'static str,
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} = {}: expected {}",
            self.field, self.value, self.expected
        )
    }
}

impl RepairConfig {
    /// Checks every field and reports all problems at once ([`CorrectError::Config`]).
    pub fn validate(&self) -> Result<(), CorrectError> {
        let mut issues = Vec::new();
        let mut real = |field: &'static str, v: f64, ok: bool, expected: &'static str| {
            if !v.is_finite() || !ok {
                issues.push(ConfigIssue {
                    field,
                    value: format!("{v}"),
                    expected,
                });
            }
        };
        real(
            "rel-tol",
            self.rel_tol,
            self.rel_tol > 0.0 && self.rel_tol < 1.0,
            "a number in (0, 1)",
        );
        real(
            "noise-std",
            self.noise_std,
            self.noise_std >= 0.0,
            "a finite number >= 0",
        );
        real(
            "threshold-abs",
            self.threshold_abs,
            self.threshold_abs >= 0.0,
            "a finite number >= 0",
        );
        real(
            "threshold-rel",
            self.threshold_rel,
            (0.0..1.0).contains(&self.threshold_rel),
            "a number in [0, 1)",
        );
        real(
            "partial-fraction",
            self.partial_fraction,
            (0.0..1.0).contains(&self.partial_fraction),
            "a number in [0, 1)",
        );
        if self.max_support == 0 {
            issues.push(ConfigIssue {
                field: "max-support",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        if !(self.single_error || self.omp || self.homotopy || self.clarabel) {
            issues.push(ConfigIssue {
                field: "single-error, omp, homotopy, clarabel",
                value: "all false".into(),
                expected: "at least one decoder enabled",
            });
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(CorrectError::Config { issues })
        }
    }

    /// The residual tolerance for `p` checks and a syndrome of norm `sigma_norm` (see the
    /// type's docs).
    pub fn tolerance(&self, p: usize, sigma_norm: f64) -> f64 {
        self.rel_tol * sigma_norm + self.noise_radius(p)
    }

    /// `noise_std * sqrt(p + 3 sqrt(2 p))`: a radius that white syndrome noise on `p` checks
    /// exceeds with probability about 0.1 %.
    pub fn noise_radius(&self, p: usize) -> f64 {
        let p = p as f64;
        self.noise_std * (p + 3.0 * (2.0 * p).sqrt()).sqrt()
    }

    /// The homotopy step limit for `p` checks.
    pub(crate) fn step_limit(&self, p: usize) -> usize {
        if self.max_steps == 0 {
            4 * p + 100
        } else {
            self.max_steps
        }
    }
}
