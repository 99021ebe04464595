//! Wire resistance (IR drop), driver and comparator resistances and finite op-amp gain.
//!
//! The ideal path ([`AnalogNetwork`]) assumes perfect wires: every cell sees its row driver's
//! voltage and a perfect virtual ground. This module solves the real circuit of each array by
//! nodal analysis (one sparse Cholesky factorisation per array) and runs a whole network with
//! it. Everything defaults to ideal, and with the defaults the results equal the ideal path.
//!
//! # The circuit of one array
//!
//! An array with `N` rows (inputs, bias row last) and `M` outputs has `P = 2M` physical
//! columns, interleaved: physical column `2i` holds the `G+` devices of output `i` and `2i+1`
//! its `G-` devices ([`physical_column`]). Cell `(j, c)` joins a row node `Vr[j,c]` and a
//! column node `Vc[j,c]`.
//!
//! ```text
//! driver j ──r_source──r_row── Vr[j,0] ──r_row── Vr[j,1] ── ... ── Vr[j,P-1]     (row j)
//!                                 │ cell G[j,0]      │ cell G[j,1]
//!                              Vc[j,0]            Vc[j,1]
//!                                 │ r_col            │ r_col        (row 0 is the far end)
//!                              Vc[N-1,c] ──r_col──r_in── (-) TIA, feedback R_load ── V_c
//! ```
//!
//! Kirchhoff's current law at every row and column node gives, with `Gw = 1/r` per segment,
//!
//! ```text
//! row node:    Gw_in (Vr[j,c-1] - Vr[j,c]) + Gw (Vr[j,c+1] - Vr[j,c]) = I_cell[j,c]
//! column node: Gw (Vc[j-1,c] - Vc[j,c]) + Gw (Vc[j+1,c] - Vc[j,c]) + I_cell[j,c] = 0
//! I_cell[j,c] = G[j,c] (Vr - Vc)                       (linear read)
//!             = G[j,c] V0 sinh((Vr - Vc)/V0)           (Stanford read)
//! ```
//!
//! where the first row segment connects to the driver through `r_source + r_row` and the last
//! column segment to the amplifier's virtual ground through `r_col + r_in + R_load/(1+A)`. The
//! last term is the input resistance of a transimpedance stage with finite gain `A`: its
//! output is `V_c = -A/(1+A) R_load I_c`, and the difference stage gives
//! `V_o,i = A/(1+A) R_load (I+ - I-)` (`A = ∞`: the ideal `R_load (I+ - I-)`). A segment of
//! zero resistance merges its two nodes, so the ideal configuration has no unknown at all.
//!
//! # Solvers
//!
//! * Linear cells: the array is a linear map from row voltages to column currents. Its
//!   transfer matrix is computed once per array (one factorisation with the ports ordered last:
//!   its trailing block is the Schur complement onto the drivers' and amplifiers' nodes), so an
//!   image costs one matrix product, exactly like the ideal path ([`SolveMethod::Transfer`]).
//! * Stanford (sinh) cells with ideal wires and an ideal amplifier: the ideal path's
//!   pre-distortion is exact ([`SolveMethod::Transfer`] too).
//! * Stanford cells with any resistance: per image, the solution with linear cells is the
//!   start; then Newton iterations `x <- x - J^-1 F(x)` with the Jacobian `G cosh(ΔV/V0)`
//!   stamped on the same sparsity pattern (symbolic analysis shared) until the largest node
//!   update is at most 1e-12 V ([`NEWTON_TOLERANCE`], [`SolveMethod::Newton`]). The first
//!   iterations reuse the linear factorisation as the Jacobian (chord steps: a solve instead
//!   of a factorisation, done for 32 images at once); with realistic wires the cells are a
//!   small perturbation of the wire network and each step shrinks the update by one to two
//!   orders of magnitude, so an image takes about five solves. An image whose steps stop
//!   shrinking by half switches to full Newton steps with a fresh factorisation. Batches of
//!   images run in parallel.
//!
//! ```
//! use faer::Mat;
//! use rand::SeedableRng;
//! use xbar_crossbar::{AnalogNetwork, CircuitConfig, RLoad, SoftLayer, WireConfig, WiredNetwork};
//! use xbar_device::{DeviceParams, IvModel, Variability};
//! let w = Mat::from_fn(3, 2, |i, j| if i == j { 0.8 } else { -0.3 });
//! let b = [0.1, 0.0];
//! let device = DeviceParams { iv: IvModel::Linear, ..DeviceParams::default() };
//! let circuit = CircuitConfig { r_load: RLoad::Unity, ..CircuitConfig::default() };
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let net = AnalogNetwork::program(device, &[SoftLayer { w: w.as_ref(), b: &b }], &circuit,
//!     None, &Variability::default(), &mut rng)?;
//! let v_in = Mat::from_fn(4, 3, |i, j| 0.025 * (i + j) as f64);
//! // Ideal wires reproduce the ideal path.
//! let ideal = WiredNetwork::new(&net, &WireConfig::default())?;
//! assert_eq!(ideal.forward(v_in.as_ref())?, net.forward(v_in.as_ref()));
//! // 2.5 ohm per segment: the IR drop lowers every output.
//! let wires = WireConfig { r_row: 2.5, r_col: 2.5, ..WireConfig::default() };
//! let wired = WiredNetwork::new(&net, &wires)?;
//! let (a, b) = (wired.forward(v_in.as_ref())?, net.forward(v_in.as_ref()));
//! assert!(a[(3, 0)] < b[(3, 0)]);
//! # Ok::<(), xbar_crossbar::CrossbarError>(())
//! ```

use std::sync::Arc;

use faer::{Mat, MatRef};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use xbar_device::{DeviceParams, Issues};

use crate::chip::{Floorplan, Tile};
use crate::nodal::{Factor, Nodal, Wiring, volt};
use crate::{AnalogNetwork, CrossbarError, LayerFaults, currents, periphery};

/// Newton stops when the largest node-voltage update is at most this, in V.
pub const NEWTON_TOLERANCE: f64 = 1e-12;
/// Newton gives up after this many iterations.
pub const NEWTON_MAX_ITERATIONS: usize = 50;

/// Resistances of the interconnect and the periphery, and the op-amp gain. All default to
/// ideal (0 ohm, infinite gain), which reproduces the ideal path.
///
/// ```
/// use xbar_crossbar::WireConfig;
/// let w = WireConfig { r_row: 1.0, r_col: 1.0, ..WireConfig::default() };
/// assert!(w.validate().is_ok() && !w.is_ideal());
/// let bad = WireConfig { r_row: -1.0, op_amp_gain: Some(f64::NAN), ..WireConfig::default() };
/// let issues = bad.validate().unwrap_err().to_string();
/// assert!(issues.contains("r-row-ohms") && issues.contains("op-amp-gain"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WireConfig {
    /// Row wire resistance per cell segment, in ohms (the first segment runs from the driver
    /// to the first cell). Default 0.
    #[serde(rename = "r-row-ohms")]
    pub r_row: f64,
    /// Column wire resistance per cell segment, in ohms (the last segment runs from the last
    /// row to the comparator). Default 0.
    #[serde(rename = "r-col-ohms")]
    pub r_col: f64,
    /// Output resistance of each row driver, in ohms. Default 0.
    #[serde(rename = "r-source-ohms")]
    pub r_source: f64,
    /// Input resistance of each current comparator (between the column wire and the op-amp's
    /// inverting input), in ohms. Default 0.
    #[serde(rename = "r-in-ohms")]
    pub r_in: f64,
    /// Open-loop gain `A` of the transimpedance op-amps. `None`: infinite (ideal).
    #[serde(rename = "op-amp-gain")]
    pub op_amp_gain: Option<f64>,
}

impl Default for WireConfig {
    fn default() -> Self {
        Self {
            r_row: 0.0,
            r_col: 0.0,
            r_source: 0.0,
            r_in: 0.0,
            op_amp_gain: None,
        }
    }
}

impl WireConfig {
    /// Checks every value: resistances finite in `[0, 1e9]` ohms, gain finite in
    /// `[1, 1e15]`. Key names are those of an experiment file's wire table.
    pub fn validate(&self) -> Result<(), Issues> {
        let mut i = Issues::default();
        i.check_range("r-row-ohms", self.r_row, 0.0, 1e9, false);
        i.check_range("r-col-ohms", self.r_col, 0.0, 1e9, false);
        i.check_range("r-source-ohms", self.r_source, 0.0, 1e9, false);
        i.check_range("r-in-ohms", self.r_in, 0.0, 1e9, false);
        if let Some(a) = self.op_amp_gain {
            i.check_range("op-amp-gain", a, 1.0, 1e15, false);
        }
        i.into_result()
    }

    /// True when every resistance is 0 and the gain infinite (the ideal circuit).
    pub fn is_ideal(&self) -> bool {
        self.r_row == 0.0
            && self.r_col == 0.0
            && self.r_source == 0.0
            && self.r_in == 0.0
            && self.op_amp_gain.is_none()
    }

    /// Transimpedance `V_o / (I+ - I-)` of a comparator with feedback `r_load`:
    /// `A/(1+A) R_load`, or `R_load` with an ideal op-amp.
    pub fn tia_gain(&self, r_load: f64) -> f64 {
        match self.op_amp_gain {
            Some(a) => r_load * (a / (1.0 + a)),
            None => r_load,
        }
    }

    /// Input resistance of the transimpedance stage, `R_load / (1 + A)` (0 when ideal).
    pub fn tia_input_resistance(&self, r_load: f64) -> f64 {
        self.op_amp_gain.map_or(0.0, |a| r_load / (1.0 + a))
    }
}

/// The physical column of output `output`'s `G+` (`plus`) or `G-` device: `2 output` or
/// `2 output + 1` (interleaved differential layout).
pub fn physical_column(output: usize, plus: bool) -> usize {
    2 * output + usize::from(!plus)
}

/// Images solved together by the nonlinear solver (one multi-column solve per iteration).
const BATCH: usize = 32;

fn check_conductances(
    g_plus: MatRef<'_, f64>,
    g_minus: MatRef<'_, f64>,
    issues: &mut Issues,
) -> Result<(), CrossbarError> {
    if g_plus.nrows() != g_minus.nrows() || g_plus.ncols() != g_minus.ncols() {
        return Err(CrossbarError::Shape {
            what: format!(
                "G+ is {}x{} but G- is {}x{}",
                g_plus.nrows(),
                g_plus.ncols(),
                g_minus.nrows(),
                g_minus.ncols()
            ),
        });
    }
    if g_plus.nrows() < 1 || g_plus.ncols() < 1 {
        return Err(CrossbarError::Shape {
            what: "an array needs at least one row and one output".into(),
        });
    }
    let mut bad = 0usize;
    for (name, g) in [("g-plus", g_plus), ("g-minus", g_minus)] {
        for j in 0..g.nrows() {
            for i in 0..g.ncols() {
                let v = g[(j, i)];
                if !(v.is_finite() && v >= 0.0) {
                    if bad < 8 {
                        issues.push(
                            format!("{name}[{j},{i}]"),
                            xbar_device::fmt_f64(v),
                            "a finite conductance >= 0 S",
                        );
                    }
                    bad += 1;
                }
            }
        }
    }
    Ok(())
}

/// The `N x 2M` physical conductances, interleaved (see [`physical_column`]).
fn physical(g_plus: MatRef<'_, f64>, g_minus: MatRef<'_, f64>) -> Mat<f64> {
    Mat::from_fn(g_plus.nrows(), 2 * g_plus.ncols(), |j, c| {
        if c.is_multiple_of(2) {
            g_plus[(j, c / 2)]
        } else {
            g_minus[(j, c / 2)]
        }
    })
}

/// How a [`WiredArray`] computes its column currents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SolveMethod {
    /// A precomputed linear map of the read transfers `f(V)`: one product per batch.
    Transfer,
    /// Newton iterations on the nodal equations, per image (chord steps with the linear
    /// factorisation first, fresh Jacobians when those stop contracting).
    Newton,
}

/// The solution of one array for one set of row voltages.
#[derive(Clone, Debug, PartialEq)]
pub struct ArraySolution {
    /// Voltage at the row terminal of every cell, `N x P` (physical columns).
    pub row_nodes: Mat<f64>,
    /// Voltage at the column terminal of every cell, `N x P`.
    pub col_nodes: Mat<f64>,
    /// Current into each physical column's comparator, in A (`P`).
    pub column_currents: Vec<f64>,
    /// `I+ - I-` per output, in A (`M`).
    pub differential: Vec<f64>,
    /// Iterations of the nonlinear solve (chord and Newton steps; 0 for linear cells).
    pub iterations: usize,
}

/// One array with its wires: the nodal system, factorised once, and either its transfer
/// matrix (linear cells, or no resistance at all) or a Newton solver (Stanford cells).
///
/// ```
/// use faer::Mat;
/// use xbar_crossbar::{WireConfig, WiredArray};
/// use xbar_device::{DeviceParams, IvModel};
/// let d = DeviceParams { iv: IvModel::Linear, ..DeviceParams::default() };
/// // One input row, one output: G+ = 1 mS, G- = 0.
/// let (gp, gm) = (Mat::from_fn(1, 1, |_, _| 1e-3), Mat::from_fn(1, 1, |_, _| 0.0));
/// let wires = WireConfig { r_row: 10.0, r_col: 10.0, r_source: 5.0, r_in: 5.0, op_amp_gain: None };
/// let a = WiredArray::new(&d, gp.as_ref(), gm.as_ref(), 1000.0, &wires)?;
/// let s = a.solve(&[0.1])?;
/// // One series path: 0.1 V over 5 + 10 + 1000 + 10 + 5 ohms.
/// assert!((s.differential[0] - 0.1 / 1030.0).abs() < 1e-15);
/// # Ok::<(), xbar_crossbar::CrossbarError>(())
/// ```
#[derive(Debug)]
pub struct WiredArray {
    device: DeviceParams,
    rows: usize,
    /// Whether the last row is the bias row (driven at `v_bias`); the upper tiles of a
    /// row-split layer have input rows only.
    bias: bool,
    outputs: usize,
    tia_gain: f64,
    sys: Nodal,
    /// Linear factor of the nodal matrix (when there are unknowns).
    lin: Option<Factor>,
    /// Effective `G+ - G-` (`N x M`) acting on `f(V)`, for [`SolveMethod::Transfer`].
    gdiff: Option<Mat<f64>>,
}

impl WiredArray {
    /// Builds the circuit of an array whose devices have conductances `g_plus`, `g_minus`
    /// (`N x M`, in S, bias row last), read through comparators with feedback `r_load`
    /// (ohms), and factorises it.
    pub fn new(
        device: &DeviceParams,
        g_plus: MatRef<'_, f64>,
        g_minus: MatRef<'_, f64>,
        r_load: f64,
        wires: &WireConfig,
    ) -> Result<WiredArray, CrossbarError> {
        Self::tile(device, g_plus, g_minus, r_load, wires, true)
    }

    /// As [`WiredArray::new`] for one physical tile of a layer: `bias` says whether its last
    /// row is the layer's bias row (the last row block) or an input row like the others.
    pub fn tile(
        device: &DeviceParams,
        g_plus: MatRef<'_, f64>,
        g_minus: MatRef<'_, f64>,
        r_load: f64,
        wires: &WireConfig,
        bias: bool,
    ) -> Result<WiredArray, CrossbarError> {
        let mut issues = Issues::default();
        if let Err(e) = device.validate() {
            issues.extend_prefixed("device", e);
        }
        if let Err(e) = wires.validate() {
            issues.extend_prefixed("", e);
        }
        issues.check_range("r-load", r_load, 0.0, 1e9, true);
        check_conductances(g_plus, g_minus, &mut issues)?;
        if !issues.is_empty() {
            return Err(CrossbarError::InvalidCircuit { issues });
        }
        let wiring = Wiring {
            r_row: wires.r_row,
            r_col: wires.r_col,
            r_source: wires.r_source,
            r_term: wires.r_in + wires.tia_input_resistance(r_load),
        };
        let sys = Nodal::new(device, physical(g_plus, g_minus).as_ref(), wiring)?;
        Self::finish(
            device,
            sys,
            (g_plus.nrows(), g_plus.ncols(), bias),
            wires.tia_gain(r_load),
        )
    }

    /// The same array (size, wiring, comparators) with other conductances, e.g. a defect
    /// scenario: reuses the topology and the symbolic factorisation, so only the numeric
    /// factorisation and the solves are redone.
    pub fn with_conductances(
        &self,
        g_plus: MatRef<'_, f64>,
        g_minus: MatRef<'_, f64>,
    ) -> Result<WiredArray, CrossbarError> {
        let mut issues = Issues::default();
        check_conductances(g_plus, g_minus, &mut issues)?;
        if g_plus.nrows() != self.rows || g_plus.ncols() != self.outputs {
            return Err(CrossbarError::Shape {
                what: format!(
                    "conductances are {}x{} but the array is {}x{}",
                    g_plus.nrows(),
                    g_plus.ncols(),
                    self.rows,
                    self.outputs
                ),
            });
        }
        if !issues.is_empty() {
            return Err(CrossbarError::InvalidCircuit { issues });
        }
        let sys = self
            .sys
            .with_cells(&self.device, physical(g_plus, g_minus).as_ref());
        Self::finish(
            &self.device,
            sys,
            (self.rows, self.outputs, self.bias),
            self.tia_gain,
        )
    }

    fn finish(
        device: &DeviceParams,
        sys: Nodal,
        (rows, outputs, bias): (usize, usize, bool),
        tia_gain: f64,
    ) -> Result<WiredArray, CrossbarError> {
        let lin = if sys.unknowns() > 0 {
            Some(sys.factorize_linear()?)
        } else {
            None
        };
        let gdiff = if sys.unknowns() == 0 || !sys.is_sinh() {
            let t = sys.transfer(lin.as_ref())?;
            Some(Mat::from_fn(rows, outputs, |j, i| {
                t[(2 * i, j)] - t[(2 * i + 1, j)]
            }))
        } else {
            None
        };
        Ok(WiredArray {
            device: *device,
            rows,
            bias,
            outputs,
            tia_gain,
            sys,
            lin,
            gdiff,
        })
    }

    /// Array rows (inputs + bias).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Logical outputs (`M`; the array has `2M` physical columns).
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Unknown node voltages of the nodal system (0 for the ideal circuit).
    pub fn unknowns(&self) -> usize {
        self.sys.unknowns()
    }

    /// Non-zeros of the lower triangle of the nodal matrix and of its Cholesky factor.
    pub fn nonzeros(&self) -> (usize, usize) {
        (self.sys.nnz(), self.sys.factor_nnz())
    }

    /// How column currents are computed.
    pub fn method(&self) -> SolveMethod {
        if self.gdiff.is_some() {
            SolveMethod::Transfer
        } else {
            SolveMethod::Newton
        }
    }

    /// Volts out per ampere of `I+ - I-`: `A/(1+A) R_load`.
    pub fn tia_gain(&self) -> f64 {
        self.tia_gain
    }

    /// The effective differential conductance matrix (`N x M`, in S) acting on the read
    /// transfers `f(V_j)`, when the method is [`SolveMethod::Transfer`]. With ideal wires it
    /// equals `G+ - G-`; with resistive wires it includes every loading effect.
    pub fn effective_gdiff(&self) -> Option<MatRef<'_, f64>> {
        self.gdiff.as_ref().map(Mat::as_ref)
    }

    /// `I+ - I-` (A) of every output for a batch: `v_in` is `n x (N-1)` (one image per row,
    /// without the bias row), the bias row is driven at `v_bias` (for a tile without the
    /// bias row, [`WiredArray::tile`], `v_in` is `n x N` and `v_bias` is unused). Stanford
    /// arrays with wires solve each image by Newton's method, in parallel.
    pub fn differential_currents(
        &self,
        v_in: MatRef<'_, f64>,
        v_bias: f64,
    ) -> Result<Mat<f64>, CrossbarError> {
        let inputs = self.rows - usize::from(self.bias);
        if v_in.ncols() != inputs {
            return Err(CrossbarError::Shape {
                what: format!(
                    "{} input voltages per image for an array with {} input rows",
                    v_in.ncols(),
                    inputs
                ),
            });
        }
        let n = v_in.nrows();
        let mut out = Mat::<f64>::zeros(n, self.outputs);
        if let Some(gd) = &self.gdiff {
            let d = &self.device;
            let f = Mat::from_fn(n, v_in.ncols(), |i, j| d.read_transfer(v_in[(i, j)]));
            self.transfer_currents_into(
                gd.as_ref(),
                f.as_ref(),
                d.read_transfer(v_bias),
                out.as_mut(),
            );
            return Ok(out);
        }
        let lin = self.lin.as_ref().expect("Newton arrays have unknowns");
        let chunks: Vec<(usize, usize)> = (0..n)
            .step_by(BATCH)
            .map(|s| (s, (s + BATCH).min(n)))
            .collect();
        let parts = chunks
            .par_iter()
            .map(|&(s, e)| {
                let u = Mat::from_fn(self.rows, e - s, |j, i| {
                    if j < inputs { v_in[(s + i, j)] } else { v_bias }
                });
                let (x, _) = self.sys.solve_batch(
                    lin,
                    u.as_ref(),
                    NEWTON_TOLERANCE,
                    NEWTON_MAX_ITERATIONS,
                )?;
                let mut cur = vec![0.0; 2 * self.outputs];
                let mut ucol = vec![0.0; self.rows];
                let mut d = Mat::<f64>::zeros(e - s, self.outputs);
                for i in 0..e - s {
                    for (j, v) in ucol.iter_mut().enumerate() {
                        *v = u[(j, i)];
                    }
                    self.sys.column_currents(x.col_as_slice(i), &ucol, &mut cur);
                    for k in 0..self.outputs {
                        d[(i, k)] = cur[2 * k] - cur[2 * k + 1];
                    }
                }
                Ok(d)
            })
            .collect::<Result<Vec<Mat<f64>>, CrossbarError>>()?;
        for (&(s, _), d) in chunks.iter().zip(&parts) {
            for k in 0..self.outputs {
                for i in 0..d.nrows() {
                    out[(s + i, k)] = d[(i, k)];
                }
            }
        }
        Ok(out)
    }

    /// `I+ - I-` of a [`SolveMethod::Transfer`] array (`gd`, its effective differential
    /// conductances) for the read transfers `f` of its input rows, the bias row (if this
    /// array has it) read at `f_bias`.
    fn transfer_currents_into(
        &self,
        gd: MatRef<'_, f64>,
        f: MatRef<'_, f64>,
        f_bias: f64,
        out: faer::MatMut<'_, f64>,
    ) {
        if self.bias {
            currents(f, gd, f_bias, out);
        } else {
            faer::linalg::matmul::matmul(out, faer::Accum::Replace, f, gd, 1.0, faer::Par::Seq);
        }
    }

    /// Solves the array for one set of row driver voltages (`N` values, bias row included)
    /// and returns every node voltage and column current.
    pub fn solve(&self, drivers: &[f64]) -> Result<ArraySolution, CrossbarError> {
        if drivers.len() != self.rows {
            return Err(CrossbarError::Shape {
                what: format!(
                    "{} driver voltages for an array with {} rows",
                    drivers.len(),
                    self.rows
                ),
            });
        }
        let u = MatRef::from_column_major_slice(drivers, self.rows, 1);
        let (x, iterations) = match &self.lin {
            Some(lin) => {
                let (x, it) =
                    self.sys
                        .solve_batch(lin, u, NEWTON_TOLERANCE, NEWTON_MAX_ITERATIONS)?;
                (x.col_as_slice(0).to_vec(), it[0])
            }
            None => (Vec::new(), 0),
        };
        let x = x.as_slice();
        let p = 2 * self.outputs;
        let mut row_nodes = Mat::<f64>::zeros(self.rows, p);
        let mut col_nodes = Mat::<f64>::zeros(self.rows, p);
        for j in 0..self.rows {
            for c in 0..p {
                let (a, b) = self.sys.cell_terms(j, c);
                row_nodes[(j, c)] = volt(x, drivers, a);
                col_nodes[(j, c)] = volt(x, drivers, b);
            }
        }
        let mut column_currents = vec![0.0; p];
        self.sys.column_currents(x, drivers, &mut column_currents);
        let differential = (0..self.outputs)
            .map(|k| column_currents[2 * k] - column_currents[2 * k + 1])
            .collect();
        Ok(ArraySolution {
            row_nodes,
            col_nodes,
            column_currents,
            differential,
            iterations,
        })
    }
}

/// One physical tile of a wired layer: where it sits in the layer and its circuit.
#[derive(Clone, Debug)]
pub struct WiredTile {
    /// The block of the layer it holds (logical rows and pair columns).
    pub tile: Tile,
    /// Its nodal circuit.
    pub array: Arc<WiredArray>,
}

/// A whole analog network with wire resistance: every physical array (every tile of the
/// circuit's chip, or every layer when there is none) solved by nodal analysis, then
/// comparators, rectifiers and rails as in the ideal path.
///
/// Row-split tiles of a layer have their own row and column wires; their output currents
/// meet on the comparator's input node (summed) or, with an ADC, are digitised per tile and
/// added. A finite op-amp gain with row-split tiles and no ADC is refused: the tiles would
/// share the amplifier's input node, which couples them, and this solver treats every tile on
/// its own.
///
/// Tiles are shared (`Arc`), so [`WiredNetwork::with_faults`] rebuilds only the tiles that
/// hold a faulty device: a sweep factorises the healthy tiles once.
///
/// ```
/// use faer::Mat;
/// use rand::SeedableRng;
/// use xbar_crossbar::chip::Chip;
/// use xbar_crossbar::{AnalogNetwork, CircuitConfig, RLoad, SoftLayer, WireConfig, WiredNetwork};
/// use xbar_device::{DeviceParams, IvModel, Variability};
/// let w = Mat::from_fn(6, 5, |i, j| ((i * 5 + j) % 7) as f64 / 7.0 - 0.4);
/// let b = [0.1; 5];
/// let device = DeviceParams { iv: IvModel::Linear, ..DeviceParams::default() };
/// // 4 x 4 tiles: 2 pairs per tile row, so the 7 x 5 array takes 2 x 3 tiles.
/// let circuit = CircuitConfig { r_load: RLoad::Unity, chip: Some(Chip { array: [4, 4] }),
///     ..CircuitConfig::default() };
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let net = AnalogNetwork::program(device, &[SoftLayer { w: w.as_ref(), b: &b }], &circuit,
///     None, &Variability::default(), &mut rng)?;
/// let wired = WiredNetwork::new(&net, &WireConfig { r_row: 1.0, r_col: 1.0, ..WireConfig::default() })?;
/// assert_eq!(wired.tiles(0).len(), 6);
/// let v_in = Mat::from_fn(3, 6, |i, j| 0.01 * (i + j) as f64);
/// let (a, b) = (wired.forward(v_in.as_ref())?, net.forward(v_in.as_ref()));
/// // 1 ohm segments on 4 x 4 tiles: a small IR-drop error on every output.
/// let scale = (0..5).map(|j| b[(2, j)].abs()).fold(0.0, f64::max);
/// for j in 0..5 {
///     let err = (a[(2, j)] - b[(2, j)]).abs() / scale;
///     assert!(err > 0.0 && err < 0.01, "{err}");
/// }
/// # Ok::<(), xbar_crossbar::CrossbarError>(())
/// ```
#[derive(Clone, Debug)]
pub struct WiredNetwork {
    net: Arc<AnalogNetwork>,
    wires: WireConfig,
    /// Per layer, its tiles (row blocks outer, column blocks inner).
    layers: Vec<Vec<WiredTile>>,
}

/// The physical arrays of `net`: its chip's floorplan, or one array per layer.
fn physical_tiles(net: &AnalogNetwork) -> Result<Vec<Tile>, CrossbarError> {
    let shapes = net.array_shapes();
    match &net.circuit.chip {
        Some(chip) => Ok(Floorplan::new(&shapes, chip)?.tiles),
        None => Ok(shapes
            .iter()
            .enumerate()
            .map(|(l, &(rows, cols))| Tile {
                layer: l,
                row_block: 0,
                col_block: 0,
                row0: 0,
                col0: 0,
                rows,
                cols,
                grid_row: 0,
                grid_col: l,
            })
            .collect()),
    }
}

impl WiredNetwork {
    /// Builds every physical array of `net` (healthy conductances) with the given wires.
    ///
    /// # Errors
    /// Invalid wires, a network that is not a chain of dense arrays, a finite op-amp gain
    /// on row-split tiles without an ADC, or a failed factorisation.
    pub fn new(net: &AnalogNetwork, wires: &WireConfig) -> Result<WiredNetwork, CrossbarError> {
        wires
            .validate()
            .map_err(|issues| CrossbarError::InvalidCircuit { issues })?;
        net.require_dense("wire resistance (the nodal solver)")?;
        let tiles = physical_tiles(net)?;
        if wires.op_amp_gain.is_some()
            && net.circuit.adc.is_none()
            && let Some(t) = tiles.iter().find(|t| t.row_block > 0)
        {
            return Err(CrossbarError::Unsupported {
                what: format!(
                    "a finite op-amp gain with layer {} split over several tiles' rows and no \
                     ADC: the tiles share the amplifier's input node, which couples them, and \
                     the solver treats each tile on its own (use an ideal op-amp, tiles with \
                     more rows, or an ADC per tile)",
                    t.layer
                ),
            });
        }
        let built = tiles
            .par_iter()
            .map(|t| Self::build(net, t, wires).map(|array| WiredTile { tile: *t, array }))
            .collect::<Result<Vec<_>, _>>()?;
        let mut layers: Vec<Vec<WiredTile>> = vec![Vec::new(); net.layers.len()];
        for wt in built {
            layers[wt.tile.layer].push(wt);
        }
        Ok(WiredNetwork {
            net: Arc::new(net.clone()),
            wires: *wires,
            layers,
        })
    }

    /// The circuit of tile `t` with the layer's programmed conductances.
    fn build(
        net: &AnalogNetwork,
        t: &Tile,
        wires: &WireConfig,
    ) -> Result<Arc<WiredArray>, CrossbarError> {
        let l = &net.layers[t.layer];
        WiredArray::tile(
            &net.device,
            l.g_plus.as_ref().submatrix(t.row0, t.col0, t.rows, t.cols),
            l.g_minus.as_ref().submatrix(t.row0, t.col0, t.rows, t.cols),
            l.r_load,
            wires,
            t.row0 + t.rows == l.rows(),
        )
        .map(Arc::new)
    }

    /// The programmed layer `layer`, or a shape error naming the network's size.
    fn layer(&self, layer: usize) -> Result<&crate::ProgrammedLayer, CrossbarError> {
        self.net
            .layers
            .get(layer)
            .ok_or_else(|| CrossbarError::Shape {
                what: format!(
                    "layer {layer} of a network with {} layers",
                    self.net.layers.len()
                ),
            })
    }

    /// A copy in which array `layer` has conductances `g_plus`, `g_minus` (e.g. from
    /// [`crate::ProgrammedLayer::faulty_conductances`]); the other layers are shared.
    pub fn with_conductances(
        &self,
        layer: usize,
        g_plus: MatRef<'_, f64>,
        g_minus: MatRef<'_, f64>,
    ) -> Result<WiredNetwork, CrossbarError> {
        self.rebuilt(layer, g_plus, g_minus, |_| true)
    }

    /// A copy in which the tiles of `layer` for which `touched` holds are rebuilt with
    /// their blocks of `g_plus`, `g_minus`.
    fn rebuilt(
        &self,
        layer: usize,
        g_plus: MatRef<'_, f64>,
        g_minus: MatRef<'_, f64>,
        touched: impl Fn(&Tile) -> bool + Sync,
    ) -> Result<WiredNetwork, CrossbarError> {
        let l = self.layer(layer)?;
        if g_plus.nrows() != l.rows() || g_plus.ncols() != l.cols() {
            return Err(CrossbarError::Shape {
                what: format!(
                    "conductances are {}x{} but layer {layer} is {}x{}",
                    g_plus.nrows(),
                    g_plus.ncols(),
                    l.rows(),
                    l.cols()
                ),
            });
        }
        let mut out = self.clone();
        // Tiles are independent circuits: rebuilt in parallel (one scenario on many tiles
        // uses every core; a sweep's scenarios already run in parallel around this).
        out.layers[layer]
            .par_iter_mut()
            .filter(|wt| touched(&wt.tile))
            .try_for_each(|wt| {
                let t = wt.tile;
                wt.array = Arc::new(wt.array.with_conductances(
                    g_plus.submatrix(t.row0, t.col0, t.rows, t.cols),
                    g_minus.submatrix(t.row0, t.col0, t.rows, t.cols),
                )?);
                Ok::<(), CrossbarError>(())
            })?;
        Ok(out)
    }

    /// A copy in which array `layer` carries `faults` (stuck devices at pair or device
    /// level); only the tiles holding a faulty device are rebuilt, the rest is shared.
    pub fn with_faults(
        &self,
        layer: usize,
        faults: &LayerFaults,
    ) -> Result<WiredNetwork, CrossbarError> {
        let l = self.layer(layer)?;
        let (p, m) = l.faulty_conductances(&self.net.device, faults);
        self.rebuilt(layer, p.as_ref(), m.as_ref(), |t| {
            faults.cells.iter().any(|c| {
                let (r, k) = (c.row as usize, c.col as usize);
                (t.row0..t.row0 + t.rows).contains(&r) && (t.col0..t.col0 + t.cols).contains(&k)
            })
        })
    }

    /// The underlying (ideal) network.
    pub fn network(&self) -> &AnalogNetwork {
        &self.net
    }

    /// The wire settings.
    pub fn wires(&self) -> &WireConfig {
        &self.wires
    }

    /// The physical arrays of layer `layer` (one without a chip), row blocks outer.
    ///
    /// # Panics
    /// If `layer` is not a layer of the network.
    pub fn tiles(&self, layer: usize) -> &[WiredTile] {
        &self.layers[layer]
    }

    /// Output voltages of layers `first..` (after comparator, rectifier and rails) when the
    /// inputs of layer `first` are `v` (`n x in_first`, one image per row).
    pub fn forward_all_from(
        &self,
        first: usize,
        v: MatRef<'_, f64>,
    ) -> Result<Vec<Mat<f64>>, CrossbarError> {
        let circuit = &self.net.circuit;
        let mut outs: Vec<Mat<f64>> = Vec::with_capacity(self.layers.len());
        for (l, tiles) in self.layers.iter().enumerate().skip(first) {
            let layer = &self.net.layers[l];
            let input = outs.last().map_or(v, Mat::as_ref);
            if input.ncols() + 1 != layer.rows() {
                return Err(CrossbarError::Shape {
                    what: format!(
                        "{} input voltages per image for layer {l} with {} rows (bias included)",
                        input.ncols(),
                        layer.rows()
                    ),
                });
            }
            let n = input.nrows();
            let device = &self.net.device;
            // Read transfers of the inputs, once for every tile that is a transfer matrix.
            let f_in = tiles
                .iter()
                .any(|wt| wt.array.effective_gdiff().is_some())
                .then(|| {
                    Mat::from_fn(n, input.ncols(), |i, j| device.read_transfer(input[(i, j)]))
                });
            let f_bias = device.read_transfer(circuit.v_bias);
            let mut o = Mat::<f64>::zeros(n, layer.cols());
            // Row blocks in order (the sum's order is fixed: same bits on any thread count);
            // the column blocks of one row block in parallel.
            let blocks = tiles.iter().map(|wt| wt.tile.row_block).max().unwrap_or(0) + 1;
            for rb in 0..blocks {
                let parts = tiles
                    .par_iter()
                    .filter(|wt| wt.tile.row_block == rb)
                    .map(|wt| {
                        let t = &wt.tile;
                        let inputs = (t.row0 + t.rows).min(input.ncols()) - t.row0;
                        let mut cur = match (wt.array.effective_gdiff(), &f_in) {
                            (Some(gd), Some(f)) => {
                                let mut out = Mat::<f64>::zeros(n, t.cols);
                                wt.array.transfer_currents_into(
                                    gd,
                                    f.as_ref().subcols(t.row0, inputs),
                                    f_bias,
                                    out.as_mut(),
                                );
                                out
                            }
                            _ => wt.array.differential_currents(
                                input.subcols(t.row0, inputs),
                                circuit.v_bias,
                            )?,
                        };
                        // Volts of this tile's share, digitised per tile with an ADC.
                        let gain = wt.array.tia_gain();
                        for j in 0..t.cols {
                            for c in cur.as_mut().col_mut(j).iter_mut() {
                                *c = match &layer.adc {
                                    Some(adc) => adc.quantize(gain * *c),
                                    None => gain * *c,
                                };
                            }
                        }
                        Ok((t.col0, cur))
                    })
                    .collect::<Result<Vec<_>, CrossbarError>>()?;
                // Summed on the comparator (or added digitally): the first row block sets.
                for (col0, part) in parts {
                    for j in 0..part.ncols() {
                        let dst = o.as_mut().col_mut(col0 + j);
                        for (d, v) in dst.iter_mut().zip(part.col(j).iter()) {
                            *d = if rb == 0 { *v } else { *d + *v };
                        }
                    }
                }
            }
            periphery(o.as_mut(), 1.0, layer.rectify, circuit.rail);
            outs.push(o);
        }
        Ok(outs)
    }

    /// Output voltages of every layer for first-layer row voltages `v_in` (`n x in`).
    pub fn forward_all(&self, v_in: MatRef<'_, f64>) -> Result<Vec<Mat<f64>>, CrossbarError> {
        self.forward_all_from(0, v_in)
    }

    /// Output voltages of the last layer for first-layer row voltages `v_in`.
    pub fn forward(&self, v_in: MatRef<'_, f64>) -> Result<Mat<f64>, CrossbarError> {
        Ok(self
            .forward_all(v_in)?
            .pop()
            .expect("a network has at least one layer"))
    }

    /// Predicted class of every image: the argmax of the last layer's voltages.
    pub fn predict(&self, v_in: MatRef<'_, f64>) -> Result<Vec<usize>, CrossbarError> {
        let v = self.forward(v_in)?;
        Ok((0..v.nrows())
            .map(|i| {
                let mut best = 0;
                for j in 1..v.ncols() {
                    if v[(i, j)] > v[(i, best)] {
                        best = j;
                    }
                }
                best
            })
            .collect())
    }
}
