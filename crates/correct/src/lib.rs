//! # xbar-correct: repairing what defects do to an analog network
//!
//! **MLP post-corrector** (Sawal & Wong 2025, sections II.C and IV): a small dense network reads
//! the 10 output voltages of a faulty circuit, standardised with its training set's mean and
//! standard deviation, and predicts the digit:
//!
//! ```text
//! h1 = ReLU(W1 z + b1),  h2 = ReLU(W2 h1 + b2),  y = softmax(W3 h2 + b3),  z = (V - mean) / std
//! ```
//!
//! trained with cross-entropy and Adam ([`xbar_nn::train()`]). [`CircuitSamples`] holds the
//! circuit samples (voltages, true label, defect configuration, image); [`Protocol`] splits
//! them as the paper does (pooled samples, 1000 per configuration block held out) or by image
//! (no test image seen by the software network or the corrector); [`evaluate`] trains one
//! corrector per (architecture, training defect type) and measures the gain
//! `ΔA = A_corrected - A_faulty` on every (test type, size, layer).
//!
//! ```
//! use xbar_correct::Architecture;
//! assert_eq!(Architecture::new(&[10, 10]).param_count(), 330);
//! assert_eq!(Architecture::new(&[100, 200]).param_count(), 23_310);
//! assert_eq!(Architecture::new(&[1]).param_count(), 31);
//! ```
//!
//! **L1 / LP repair** ([`repair`], DESIGN.md section 3.6): decoders for memory errors in weights
//! protected by a real-number code (`M w = 0`): from the syndrome `sigma = M e` find the sparse
//! error `e` by basis pursuit `min ||e||_1 s.t. M e = sigma`, with fast paths (single error,
//! orthogonal matching pursuit), an exact homotopy solver, Clarabel LPs as the reference
//! (including the joint memory + datapath problem and noisy variants), erasure decoding on a
//! known defect map, and a verified status for every answer. [`repair::statistical_dimension`]
//! predicts how many checks L1 decoding needs.

mod corrector;
mod protocol;
pub mod repair;
mod samples;

pub use corrector::{Architecture, Corrector, CorrectorConfig, Standardizer};
pub use protocol::{
    CorrectionRecord, Protocol, Splits, TestIndex, TypeSplit, evaluate, evaluate_job, split,
};
pub use samples::{CircuitSamples, ConfigInfo};

/// Errors of the repair crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CorrectError {
    /// Inconsistent inputs.
    #[error("invalid correction input: {what}")]
    Invalid {
        /// What is wrong.
        what: String,
    },
    /// From training.
    #[error(transparent)]
    Nn(#[from] xbar_nn::NnError),
    /// An invalid [`repair::RepairConfig`]: every problem found.
    #[error("invalid repair settings: {}", issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Config {
        /// The problems, one per offending field.
        issues: Vec<repair::ConfigIssue>,
    },
}
