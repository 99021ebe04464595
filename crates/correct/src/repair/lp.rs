//! The reference decoders: the L1 LPs of `reference/ecc-math.md` A.5-A.6 solved with Clarabel.
//!
//! All problems are weighted basis pursuit `min sum_i w_i |z_i| s.t. A z = b` (plus a noise
//! ball), solved in **dual form** unless asked otherwise:
//!
//! ```text
//! max b^T y  s.t.  |A_i^T y| <= w_i          (Clarabel: min -b^T y, [A^T; -A^T] y + s = [w; w], s >= 0)
//! ```
//!
//! Stationarity of Clarabel's KKT system, `-b + A (z_+ - z_-) = 0`, makes the multipliers of
//! the two box blocks the primal solution: `z = z_+ - z_-`. The KKT matrix then has a dense
//! `p x p` Schur block only, where the split form (F1) fills in badly (`deps.md` section 6).
//!
//! Noise balls (F4) in dual form: `||A z - b||_2 <= eps` adds `- eps ||y||_2` to the dual
//! objective (a second-order cone on `(t, y)`), `||A z - b||_inf <= eps` adds `- eps ||y||_1`
//! (`|y| <= t` as two nonnegative blocks); the box multipliers still give `z`.

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, SolverStatus, SupportedConeT,
};
use faer::MatRef;
use serde::{Deserialize, Serialize};

use super::{Decoded, Decoder, LpForm, Problem, RepairConfig, Status, finish};
use crate::CorrectError;

/// The noise ball of the denoising decoders ([`clarabel_noisy`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseBall {
    /// `||sigma - M e||_2 <= radius` (a second-order cone; white syndrome noise of standard
    /// deviation `s` on `p` checks: `radius = s sqrt(p + 3 sqrt(2 p))`,
    /// [`RepairConfig::noise_radius`]).
    L2 {
        /// The radius (units of the syndrome).
        radius: f64,
    },
    /// `||sigma - M e||_inf <= radius` (still an LP).
    LInf {
        /// The radius (units of the syndrome).
        radius: f64,
    },
}

impl NoiseBall {
    fn radius(self) -> f64 {
        match self {
            NoiseBall::L2 { radius } | NoiseBall::LInf { radius } => radius,
        }
    }
}

/// Raw LP output.
struct LpOut {
    z: Vec<f64>,
    iterations: usize,
    status: SolverStatus,
}

impl LpOut {
    fn ok(&self) -> bool {
        matches!(
            self.status,
            SolverStatus::Solved | SolverStatus::AlmostSolved
        )
    }
}

fn settings() -> clarabel::solver::DefaultSettings<f64> {
    DefaultSettingsBuilder::default()
        .verbose(false)
        .build()
        .expect("constant Clarabel settings are valid")
}

fn setup_error(e: impl std::fmt::Display) -> CorrectError {
    CorrectError::Invalid {
        what: format!("Clarabel rejected the problem: {e}"),
    }
}

/// Weighted basis pursuit in dual form; `rows[c]` lists the nonzeros `(variable, value)` of
/// row `c` of `A`, by increasing variable.
fn solve_dual(
    rows: &[Vec<(usize, f64)>],
    nvars: usize,
    weights: &[f64],
    rhs: &[f64],
    ball: Option<NoiseBall>,
) -> Result<LpOut, CorrectError> {
    let np = rows.len();
    let nbox = 2 * nvars;
    let (extra_vars, extra_rows) = match ball {
        None => (0, 0),
        Some(NoiseBall::L2 { .. }) => (1, np + 1),
        Some(NoiseBall::LInf { .. }) => (np, 2 * np),
    };
    let nnz: usize = rows.iter().map(|r| 2 * r.len() + 2).sum::<usize>() + 2 * extra_vars;
    let mut colptr = Vec::with_capacity(np + extra_vars + 1);
    let mut rowval = Vec::with_capacity(nnz);
    let mut nzval = Vec::with_capacity(nnz);
    colptr.push(0);
    for (c, row) in rows.iter().enumerate() {
        for &(var, val) in row {
            rowval.push(var);
            nzval.push(val);
        }
        for &(var, val) in row {
            rowval.push(nvars + var);
            nzval.push(-val);
        }
        match ball {
            None => {}
            Some(NoiseBall::L2 { .. }) => {
                rowval.push(nbox + 1 + c);
                nzval.push(-1.0);
            }
            Some(NoiseBall::LInf { .. }) => {
                rowval.push(nbox + c);
                nzval.push(1.0);
                rowval.push(nbox + np + c);
                nzval.push(-1.0);
            }
        }
        colptr.push(rowval.len());
    }
    let mut q: Vec<f64> = rhs.iter().map(|v| -v).collect();
    match ball {
        None => {}
        Some(NoiseBall::L2 { radius }) => {
            rowval.push(nbox);
            nzval.push(-1.0);
            colptr.push(rowval.len());
            q.push(radius);
        }
        Some(NoiseBall::LInf { radius }) => {
            for c in 0..np {
                rowval.push(nbox + c);
                nzval.push(-1.0);
                rowval.push(nbox + np + c);
                nzval.push(-1.0);
                colptr.push(rowval.len());
                q.push(radius);
            }
        }
    }
    let nx = np + extra_vars;
    let a = CscMatrix::new(nbox + extra_rows, nx, colptr, rowval, nzval);
    let pm = CscMatrix::<f64>::zeros((nx, nx));
    let mut b = Vec::with_capacity(nbox + extra_rows);
    b.extend_from_slice(weights);
    b.extend_from_slice(weights);
    b.resize(nbox + extra_rows, 0.0);
    let cones = match ball {
        None => vec![SupportedConeT::NonnegativeConeT(nbox)],
        Some(NoiseBall::L2 { .. }) => vec![
            SupportedConeT::NonnegativeConeT(nbox),
            SupportedConeT::SecondOrderConeT(np + 1),
        ],
        Some(NoiseBall::LInf { .. }) => vec![SupportedConeT::NonnegativeConeT(nbox + 2 * np)],
    };
    let mut solver =
        DefaultSolver::new(&pm, &q, &a, &b, &cones, settings()).map_err(setup_error)?;
    solver.solve();
    let sol = &solver.solution;
    let z = (0..nvars).map(|i| sol.z[i] - sol.z[nvars + i]).collect();
    Ok(LpOut {
        z,
        iterations: sol.iterations as usize,
        status: sol.status,
    })
}

/// Basis pursuit in split form (F1): `min 1^T (u + v) s.t. [M, -M] [u; v] = sigma, u, v >= 0`.
fn solve_split(prob: &Problem<'_>) -> Result<LpOut, CorrectError> {
    let (p, n) = (prob.p, prob.n);
    let nnz = 2 * (p + 1) * n;
    let mut colptr = Vec::with_capacity(2 * n + 1);
    let mut rowval = Vec::with_capacity(nnz);
    let mut nzval = Vec::with_capacity(nnz);
    colptr.push(0);
    for sign in [1.0, -1.0] {
        for j in 0..n {
            for (i, &v) in prob.col(j).iter().enumerate() {
                if v != 0.0 {
                    rowval.push(i);
                    nzval.push(sign * v);
                }
            }
            rowval.push(p + if sign > 0.0 { j } else { n + j });
            nzval.push(-1.0);
            colptr.push(rowval.len());
        }
    }
    let a = CscMatrix::new(p + 2 * n, 2 * n, colptr, rowval, nzval);
    let pm = CscMatrix::<f64>::zeros((2 * n, 2 * n));
    let q = vec![1.0; 2 * n];
    let mut b = prob.sigma.to_vec();
    b.resize(p + 2 * n, 0.0);
    let cones = [
        SupportedConeT::ZeroConeT(p),
        SupportedConeT::NonnegativeConeT(2 * n),
    ];
    let mut solver =
        DefaultSolver::new(&pm, &q, &a, &b, &cones, settings()).map_err(setup_error)?;
    solver.solve();
    let sol = &solver.solution;
    let z = (0..n).map(|j| sol.x[j] - sol.x[n + j]).collect();
    Ok(LpOut {
        z,
        iterations: sol.iterations as usize,
        status: sol.status,
    })
}

/// The rows of a dense problem as sparse lists.
fn dense_rows(prob: &Problem<'_>) -> Vec<Vec<(usize, f64)>> {
    let mut rows: Vec<Vec<(usize, f64)>> =
        (0..prob.p).map(|_| Vec::with_capacity(prob.n)).collect();
    for j in 0..prob.n {
        for (i, &v) in prob.col(j).iter().enumerate() {
            if v != 0.0 {
                rows[i].push((j, v));
            }
        }
    }
    rows
}

/// Post-processing of an LP solution; a solver failure is never reported `Recovered`.
fn finish_lp(prob: &Problem<'_>, out: LpOut, what: &str, cfg: &RepairConfig, tol: f64) -> Decoded {
    let ok = out.ok();
    let note = format!("Clarabel {what}: {:?}", out.status);
    let mut d = finish(
        prob,
        out.z,
        Decoder::Clarabel,
        out.iterations,
        cfg,
        tol,
        Some(note),
    );
    if !ok && d.status == Status::Recovered {
        d.status = Status::Partial;
    }
    d
}

pub(crate) fn clarabel_impl(
    prob: &Problem<'_>,
    form: LpForm,
    cfg: &RepairConfig,
) -> Result<Decoded, CorrectError> {
    let tol = cfg.tolerance(prob.p, prob.sigma_norm);
    let (out, what) = match form {
        LpForm::Dual => {
            let rows = dense_rows(prob);
            (
                solve_dual(&rows, prob.n, &vec![1.0; prob.n], prob.sigma, None)?,
                "dual LP",
            )
        }
        LpForm::Split => (solve_split(prob)?, "split LP"),
    };
    Ok(finish_lp(prob, out, what, cfg, tol))
}

/// Basis pursuit `min ||e||_1 s.t. M e = sigma` solved with Clarabel (the reference decoder),
/// then thresholded, debiased and verified like every decoder. A solver status other than
/// solved / almost solved is named in [`Decoded::message`] and never gives `Recovered`.
///
/// ```
/// use xbar_correct::repair::{LpForm, RepairConfig, Status, clarabel, gaussian_instance};
/// let inst = gaussian_instance(30, 100, 3, 9);
/// let out = clarabel(inst.m.as_ref(), &inst.sigma, LpForm::Dual, &RepairConfig::default())?;
/// assert_eq!(out.status, Status::Recovered);
/// # Ok::<(), xbar_correct::CorrectError>(())
/// ```
pub fn clarabel(
    m: MatRef<'_, f64>,
    sigma: &[f64],
    form: LpForm,
    cfg: &RepairConfig,
) -> Result<Decoded, CorrectError> {
    cfg.validate()?;
    let prob = Problem::new(m, sigma)?;
    clarabel_impl(&prob, form, cfg)
}

/// Basis pursuit denoising with Clarabel (form F4): `min ||e||_1 s.t. ||sigma - M e|| <= radius`
/// in the l2 (second-order cone) or l_inf (LP) norm, then threshold, debias and verify. The
/// residual tolerance is the larger of [`RepairConfig::tolerance`] and the ball's radius (times
/// `sqrt(p)` for l_inf); set `threshold_abs` above the noise level of `e`.
///
/// With `M = Q^T` (orthonormal rows, `reference/ecc-math.md` A.3) white weight noise stays
/// white on the syndrome.
///
/// ```
/// use xbar_correct::repair::{NoiseBall, RepairConfig, Status, clarabel_noisy, gaussian_instance};
/// let mut inst = gaussian_instance(40, 120, 3, 2);
/// for (i, s) in inst.sigma.iter_mut().enumerate() {
///     *s += 1e-4 * if i % 2 == 0 { 1.0 } else { -1.0 };
/// }
/// let cfg = RepairConfig { threshold_abs: 1e-2, noise_std: 1e-4, ..RepairConfig::default() };
/// let ball = NoiseBall::L2 { radius: cfg.noise_radius(40) };
/// let out = clarabel_noisy(inst.m.as_ref(), &inst.sigma, ball, &cfg)?;
/// assert_eq!(out.status, Status::Recovered);
/// assert_eq!(out.support_size, 3);
/// # Ok::<(), xbar_correct::CorrectError>(())
/// ```
pub fn clarabel_noisy(
    m: MatRef<'_, f64>,
    sigma: &[f64],
    ball: NoiseBall,
    cfg: &RepairConfig,
) -> Result<Decoded, CorrectError> {
    cfg.validate()?;
    let r = ball.radius();
    if !(r.is_finite() && r >= 0.0) {
        return Err(CorrectError::Invalid {
            what: format!("noise ball radius {r}: expected a finite number >= 0"),
        });
    }
    let prob = Problem::new(m, sigma)?;
    let rows = dense_rows(&prob);
    let out = solve_dual(&rows, prob.n, &vec![1.0; prob.n], prob.sigma, Some(ball))?;
    let ball_l2 = match ball {
        NoiseBall::L2 { radius } => radius,
        NoiseBall::LInf { radius } => radius * (prob.p as f64).sqrt(),
    };
    let tol = cfg
        .tolerance(prob.p, prob.sigma_norm)
        .max(ball_l2 * (1.0 + 1e-6));
    let what = match ball {
        NoiseBall::L2 { .. } => "l2 denoising",
        NoiseBall::LInf { .. } => "l_inf denoising",
    };
    Ok(finish_lp(&prob, out, what, cfg, tol))
}

/// One group of the joint memory + datapath problem ([`clarabel_joint`]).
#[derive(Clone, Copy, Debug)]
pub struct JointGroup<'a> {
    /// The group's checks `M_g` (`p_g x N_g`: type-1 and type-2 rows on its weights).
    pub m: MatRef<'a, f64>,
    /// Its syndrome `M_g vec(W~_g)` (`p_g` values).
    pub syndrome: &'a [f64],
    /// The layer input restricted to the group's `n_g` inputs. `N_g = n_g * outputs`, and
    /// `vec(E_g)` runs input by input: entry `t = j * outputs + i` is the weight from input
    /// `j` to output `i` (`vec(W_g)` column-major, as in `xbar_ecc::rnecc`).
    pub x: &'a [f64],
}

/// Result of [`clarabel_joint`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JointDecoded {
    /// The memory error of each group, verified against that group's syndrome.
    pub memory: Vec<Decoded>,
    /// The datapath error `e` (length `outputs`), verified against the output checks once the
    /// memory errors' contribution `sum_g (x_g^T kron C) vec(E_g)` is removed; its design bound
    /// is [`RepairConfig::max_datapath_support`] and its `p` the number of checks `L`.
    pub datapath: Decoded,
    /// The worst status of all parts.
    pub status: Status,
    /// Clarabel iterations.
    pub iterations: usize,
    /// The solver's outcome, in words.
    pub message: String,
}

/// The joint problem (P2, form F3): memory errors `E_g` in every group and a datapath error
/// `e` on the layer output,
///
/// ```text
/// min sum_g ||vec(E_g)||_1 + lambda ||e||_1
/// s.t. M_g vec(E_g) = sigma_g (every g),  sum_g (x_g^T kron C) vec(E_g) + C e = C y~
/// ```
///
/// solved with Clarabel in dual form. `checks` is `C` (`L x outputs`), `check_syndrome` is
/// `C y~` for the observed output `y~` (since `C W x = 0`, it equals
/// `C (E x + e)`). The clean output is then `y~ - E^ x - e^`. Locating `d` datapath errors
/// needs about `D(d, outputs)` random checks (`reference/ecc-math.md` A.5, A.7); with the single
/// all-ones check a datapath error is detected but not located.
///
/// ```
/// use faer::Mat;
/// use xbar_correct::repair::{JointGroup, RepairConfig, Status, clarabel_joint, gaussian_instance};
/// // One group: 2 inputs x 6 outputs = 12 weights, 10 Gaussian checks; 4 random output checks.
/// let inst = gaussian_instance(10, 12, 1, 3);
/// let c = Mat::from_fn(4, 6, |l, i| ((l * 7 + i * 3) % 5) as f64 - 2.0);
/// let x = [0.5, -1.0];
/// let mut cy = vec![0.0; 4]; // C (E x + e) with no datapath error
/// for l in 0..4 {
///     for j in 0..2 {
///         for i in 0..6 {
///             cy[l] += c[(l, i)] * x[j] * inst.e0[j * 6 + i];
///         }
///     }
/// }
/// let g = JointGroup { m: inst.m.as_ref(), syndrome: &inst.sigma, x: &x };
/// let cfg = RepairConfig { max_support: 3, max_datapath_support: 1, ..RepairConfig::default() };
/// let out = clarabel_joint(&[g], c.as_ref(), &cy, 1.0, &cfg)?;
/// assert_eq!(out.memory[0].status, Status::Recovered);
/// assert_eq!(out.datapath.support_size, 0);
/// # Ok::<(), xbar_correct::CorrectError>(())
/// ```
pub fn clarabel_joint(
    groups: &[JointGroup<'_>],
    checks: MatRef<'_, f64>,
    check_syndrome: &[f64],
    lambda: f64,
    cfg: &RepairConfig,
) -> Result<JointDecoded, CorrectError> {
    cfg.validate()?;
    let (l, outputs) = (checks.nrows(), checks.ncols());
    let invalid = |what: String| Err(CorrectError::Invalid { what });
    if l == 0 || outputs == 0 {
        return invalid(format!("an empty {l} x {outputs} output-check matrix"));
    }
    if check_syndrome.len() != l {
        return invalid(format!(
            "{} check syndromes for {l} output checks",
            check_syndrome.len()
        ));
    }
    if !(lambda.is_finite() && lambda > 0.0) {
        return invalid(format!("lambda = {lambda}: expected a finite number > 0"));
    }
    if let Some(v) = check_syndrome
        .iter()
        .chain(groups.iter().flat_map(|g| g.x.iter()))
        .find(|v| !v.is_finite())
    {
        return invalid(format!("non-finite input or check syndrome value {v}"));
    }
    let c = checks.to_owned();
    if let Some(v) = (0..outputs)
        .flat_map(|i| c.col_as_slice(i).iter())
        .find(|v| !v.is_finite())
    {
        return invalid(format!("non-finite output-check value {v}"));
    }
    let mut probs = Vec::with_capacity(groups.len());
    let mut offsets = Vec::with_capacity(groups.len());
    let mut ne = 0;
    for (gi, g) in groups.iter().enumerate() {
        if g.m.ncols() != g.x.len() * outputs {
            return invalid(format!(
                "group {gi}: {} unknowns for {} inputs x {outputs} outputs",
                g.m.ncols(),
                g.x.len()
            ));
        }
        probs.push(Problem::new(g.m, g.syndrome)?);
        offsets.push(ne);
        ne += g.m.ncols();
    }
    let nvars = ne + outputs;
    let mut rows: Vec<Vec<(usize, f64)>> = Vec::new();
    for (prob, &off) in probs.iter().zip(&offsets) {
        let mut grows: Vec<Vec<(usize, f64)>> = (0..prob.p).map(|_| Vec::new()).collect();
        for t in 0..prob.n {
            for (i, &v) in prob.col(t).iter().enumerate() {
                if v != 0.0 {
                    grows[i].push((off + t, v));
                }
            }
        }
        rows.extend(grows);
    }
    for li in 0..l {
        let mut row = Vec::new();
        for (g, &off) in groups.iter().zip(&offsets) {
            for (j, &xj) in g.x.iter().enumerate() {
                for i in 0..outputs {
                    let v = xj * c[(li, i)];
                    if v != 0.0 {
                        row.push((off + j * outputs + i, v));
                    }
                }
            }
        }
        for i in 0..outputs {
            if c[(li, i)] != 0.0 {
                row.push((ne + i, c[(li, i)]));
            }
        }
        rows.push(row);
    }
    let mut weights = vec![1.0; nvars];
    weights[ne..].fill(lambda);
    let rhs: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.syndrome.iter().copied())
        .chain(check_syndrome.iter().copied())
        .collect();
    let out = solve_dual(&rows, nvars, &weights, &rhs, None)?;
    let ok = out.ok();
    let message = format!("Clarabel joint LP: {:?}", out.status);
    let cap = |mut d: Decoded| {
        if !ok && d.status == Status::Recovered {
            d.status = Status::Partial;
        }
        d
    };
    let mut memory = Vec::with_capacity(groups.len());
    for (prob, &off) in probs.iter().zip(&offsets) {
        let tol = cfg.tolerance(prob.p, prob.sigma_norm);
        let e = out.z[off..off + prob.n].to_vec();
        memory.push(cap(finish(
            prob,
            e,
            Decoder::Clarabel,
            out.iterations,
            cfg,
            tol,
            None,
        )));
    }
    // Datapath: C e = C y~ - sum_g G_g vec(E_g^).
    let mut target = check_syndrome.to_vec();
    for (g, d) in groups.iter().zip(&memory) {
        for &t in &d.support {
            let (j, i) = (t / outputs, t % outputs);
            for (li, tl) in target.iter_mut().enumerate() {
                *tl -= g.x[j] * c[(li, i)] * d.e[t];
            }
        }
    }
    let dp_prob = Problem::new(c.as_ref(), &target)?;
    let dp_cfg = RepairConfig {
        max_support: cfg.max_datapath_support,
        ..cfg.clone()
    };
    let tol = dp_cfg.tolerance(l, dp_prob.sigma_norm);
    let datapath = cap(finish(
        &dp_prob,
        out.z[ne..].to_vec(),
        Decoder::Clarabel,
        out.iterations,
        &dp_cfg,
        tol,
        None,
    ));
    let status = memory
        .iter()
        .map(|d| d.status)
        .chain([datapath.status])
        .max()
        .unwrap_or(Status::Recovered);
    Ok(JointDecoded {
        memory,
        datapath,
        status,
        iterations: out.iterations,
        message,
    })
}
