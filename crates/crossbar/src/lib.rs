//! # xbar-crossbar: analog ReRAM arrays and the fully analog network
//!
//! Weights become differential pairs of conductances (bias as an extra input row, so the
//! digits network's first array is 65 x 50 = 3250 pairs). Each array computes, for a batch of
//! row voltages `V` (one image per row),
//!
//! ```text
//! I(i,±)  = Σ_j G(j,i,±) f(V_j)        f(V) = V0 sinh(V/V0)  (or V with linear reads)
//! V_o,i   = R_load (I(i,+) - I(i,-))   current comparator (transimpedance)
//! V_out,i = clamp(max(0, V_o,i), rail) rectifier on hidden layers, none on the last
//! ```
//!
//! and the next array reads `V_out` directly: no ADC between layers. The prediction is the
//! argmax of the last layer's voltages. Defects ([`Shape`]) produce masks; masks become stuck
//! devices ([`LayerFaults`]) at pair or device level. [`Evaluator`] runs many faulty variants
//! of a network on one batch, reusing the healthy prefix.
//!
//! The ideal circuit above is the default. Two modules go beyond it (docs/fidelity.md):
//!
//! * [`wires`]: wire resistance per row and column segment, driver and comparator input
//!   resistances and finite op-amp gain, solved by nodal analysis with a sparse Cholesky
//!   factorisation per array ([`WiredArray`], [`WiredNetwork`]). With linear cells each array
//!   collapses to a transfer matrix (one product per batch); Stanford cells are solved by
//!   Newton iterations. With these effects, stuck-on and stuck-off pairs no longer agree.
//! * [`netlist`]: the same circuits as ngspice netlists (resistors or Stanford-model
//!   B-sources, drivers, transimpedance and difference stages, rectifiers, rails, wires), and
//!   a reader for ngspice's printed results, so any SPICE can check the emulator.
//!
//! ```
//! use faer::Mat;
//! use rand::SeedableRng;
//! use xbar_crossbar::{AnalogNetwork, CircuitConfig, RLoad, SoftLayer};
//! use xbar_device::{DeviceParams, IvModel, Variability};
//! // A 2-input, 2-output layer: y = x W + b.
//! let w = Mat::from_fn(2, 2, |i, j| if i == j { 1.0 } else { -0.5 });
//! let b = [0.0, 0.25];
//! let device = DeviceParams { iv: IvModel::Linear, ..DeviceParams::default() };
//! let circuit = CircuitConfig { r_load: RLoad::Unity, ..CircuitConfig::default() };
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let net = AnalogNetwork::program(device, &[SoftLayer { w: w.as_ref(), b: &b }], &circuit, None, &Variability::default(), &mut rng)?;
//! let x = Mat::from_fn(1, 2, |_, j| [1.0, 0.5][j]);
//! let v = net.forward(net.input_voltages(x.as_ref()).as_ref());
//! // Unity gain: volts = software value x 0.1 V.
//! assert!((v[(0, 0)] - 0.1 * (1.0 - 0.25)).abs() < 1e-12);
//! assert!((v[(0, 1)] - 0.1 * (-0.5 + 0.5 + 0.25)).abs() < 1e-12);
//! # Ok::<(), xbar_crossbar::CrossbarError>(())
//! ```

pub mod chip;
mod defects;
mod evaluator;
mod faults;
pub mod netlist;
mod network;
mod nodal;
pub mod wires;

pub use defects::{
    Center, LineSize, Mask, MaskFile, Shape, parse_mask_csv, parse_mask_png, read_mask_file,
};
pub use evaluator::{Evaluator, Healthy, Workspace};
pub use faults::{CellFault, FaultLevel, LayerFaults, StuckState};
pub use network::{
    Adc, AdcRange, AdcStage, AnalogNetwork, ArrayStage, CircuitConfig, Mapping, PostOp,
    ProgrammedLayer, RLoad, SoftLayer, StageScratch, Wiring, array_stages, currents, periphery,
};
pub use wires::{ArraySolution, SolveMethod, WireConfig, WiredArray, WiredNetwork};

use std::path::PathBuf;
use xbar_device::Issues;

/// Errors of the crossbar crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrossbarError {
    /// Circuit settings out of range.
    #[error("invalid circuit settings:\n{issues}")]
    InvalidCircuit {
        /// Every problem found.
        issues: Issues,
    },
    /// Chip settings out of range.
    #[error("invalid chip:\n{issues}")]
    InvalidChip {
        /// Every problem found.
        issues: Issues,
    },
    /// A network or setting this model does not cover (with what it does cover).
    #[error("not supported: {what}")]
    Unsupported {
        /// What was asked and what is supported.
        what: String,
    },
    /// Inconsistent matrix shapes.
    #[error("shape mismatch: {what}")]
    Shape {
        /// What did not fit.
        what: String,
    },
    /// A mask file does not match the array and resampling is off.
    #[error("mask {origin} is {}x{} but the array is {}x{} (set resample = true to fit it)", mask.0, mask.1, array.0, array.1)]
    MaskSize {
        /// The mask's file.
        origin: String,
        /// Mask rows and columns.
        mask: (usize, usize),
        /// Array rows and columns.
        array: (usize, usize),
    },
    /// A mask file could not be parsed.
    #[error("mask {origin}: {message}")]
    MaskParse {
        /// The mask's file.
        origin: String,
        /// What is wrong, with the line when known.
        message: String,
    },
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The Newton iteration of the nonlinear IR-drop solve did not converge.
    #[error(
        "the nonlinear IR-drop solve did not converge in {iterations} Newton iterations (last update {step:e} V)"
    )]
    NoConvergence {
        /// Iterations done.
        iterations: usize,
        /// Largest node-voltage update of the last iteration, in V.
        step: f64,
    },
    /// The nodal solver failed (e.g. a matrix that is not positive definite).
    #[error("nodal solver: {what}")]
    Solver {
        /// What failed.
        what: String,
    },
    /// A SPICE netlist could not be written, run, or its output read.
    #[error("SPICE: {what}")]
    Spice {
        /// What went wrong.
        what: String,
    },
}
