//! # xbar-experiment: experiment files, the scenario grid and the sweep runner
//!
//! An experiment TOML file is parsed into raw serde structs ([`raw`]: unknown keys denied,
//! kebab-case) and validated into an [`Experiment`], collecting every problem with its key
//! path, value and valid range. [`expand`] turns its `[[sweep]]` tables into [`Scenario`]s
//! (shape x size x layers x stuck state x repeat); [`prepare`] trains (or loads) the software
//! network and programs the healthy circuit; [`run_scenarios`] evaluates every scenario in
//! parallel and returns one [`ScenarioRecord`] each. Each scenario draws only from its own
//! ChaCha8 stream, seeded by the experiment seed and a hash of its coordinates, so the records
//! are bit-identical for any thread count and order.
//!
//! ```
//! use xbar_experiment::{Experiment, expand};
//! let text = r#"
//!     name = "tiny"
//!     [[sweep]]
//!     shape = "circle"
//!     sizes = [0.2, 0.4]
//!     layers = [3]
//! "#;
//! let exp = Experiment::from_toml_str(text, "tiny.toml", None)?;
//! assert_eq!(expand(&exp).len(), 2);
//! let bad = Experiment::from_toml_str("name = \"x\"\n[[sweep]]\nshape = \"circle\"\nsizes = [-1.0]\nlayers = [7]\n", "bad.toml", None);
//! let msg = bad.unwrap_err().to_string();
//! assert!(msg.contains("sweep[0].sizes[0]") && msg.contains("sweep[0].layers[0]"));
//! # Ok::<(), xbar_experiment::ExperimentError>(())
//! ```

pub mod bench;
mod checkpoint;
mod config;
mod correction;
mod crossbar_repair;
mod detection;
pub mod detection_protocol;
mod export;
mod imported;
mod mnist_repair;
mod phase;
mod pipeline;
mod plan;
pub mod raw;
mod record;
mod reference;
mod repair_config;
mod runner;
mod scenario;
mod shard;
mod study;

pub use checkpoint::{Checkpoint, Resumed, fingerprint};
pub use config::{
    Analysis, CorrectionSpec, DEFAULT_EXPERIMENT_ORIGIN, DEFAULT_EXPERIMENT_TOML, DatasetKind,
    DetectionSpec, Experiment, NetworkSpec, SHAPES, SizedShape, Standalone, Sweep, paper_sizes,
};
pub use correction::{CorrectionStudy, circuit_samples};
pub use crossbar_repair::{
    CodedLayerInfo, CodedNetwork, CrossbarRepairStudy, RepairRow, prepare_crossbar_repair,
};
pub use detection::{DetectionRow, DetectionStudy, run_detection, run_input_faults};
pub use export::{Export, exports};
pub use imported::{
    ArrayInfo, DEFAULT_CALIBRATION, FileRef, ImportedContent, ImportedData, ImportedNetwork,
    UserContent, UserData,
};
pub use mnist_repair::{
    MnistBaseline, MnistOutcome, MnistPrepared, MnistRow, MnistStudy, MnistTimings, mnist_rows,
    mnist_stream, prepare_mnist, run_mnist_repair,
};
pub use phase::{PhaseRow, PhaseStudy, crossing_50, phase_seed, run_phase_transition};
pub use pipeline::{
    DEPENDENCIES, Manifest, Outcome, RunOptions, StudyOutcome, execute, execute_shard,
};
pub use plan::{Estimate, describe, plan};
pub use raw::{CodeFamily, ShapeKind};
pub use record::ScenarioRecord;
pub use reference::{KEYS, KeyDoc, config_reference, default_of, example, key_docs};
pub use repair_config::{
    CrossbarRepairSpec, LayerCode, MNIST_HIDDEN, MNIST_TEST_IMAGES, MNIST_TRAIN_IMAGES,
    MnistRepairSpec, PhaseTransitionSpec, RepairDecoder,
};
pub use runner::{
    Baseline, NoProgress, Prepared, Progress, SweepStudy, Timings, WireBaseline, WiredHealthy,
    prepare, run_scenarios, scenario_rng, soft_layers,
};
pub use scenario::{Scenario, expand, fnv1a64, stream_of};
pub use shard::{
    ExperimentSource, MAX_SHARDS, Merged, SHARD_FILE, SHARD_FORMAT, Shard, ShardManifest, merge,
    partition, read_shard,
};
pub use study::{Driver, Stage, Study, estimate};

use std::path::PathBuf;
use xbar_device::Issues;

/// Errors of experiment loading and running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExperimentError {
    /// Not valid TOML, or an unknown / mistyped key.
    #[error("{file}{}: {message}", if *line > 0 { format!(":{line}:{column}") } else { String::new() })]
    Parse {
        /// The file.
        file: String,
        /// 1-based line (0 if unknown).
        line: usize,
        /// 1-based column (0 if unknown).
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// Values out of range; all problems listed.
    #[error("{file}: invalid experiment ({} problem{}):\n{issues}", issues.len(), if issues.len() == 1 { "" } else { "s" })]
    Invalid {
        /// The file.
        file: String,
        /// Every problem.
        issues: Issues,
    },
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file could not be written (or removed, or renamed into place).
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// From the network crate (dataset, training).
    #[error(transparent)]
    Nn(#[from] xbar_nn::NnError),
    /// From the crossbar crate.
    #[error(transparent)]
    Crossbar(#[from] xbar_crossbar::CrossbarError),
    /// The output folder holds a checkpoint of another configuration.
    #[error(
        "{} belongs to a run of a different configuration (or xbar version); \
         use --fresh to discard it, or choose another --out folder",
        path.display()
    )]
    CheckpointMismatch {
        /// The checkpoint file.
        path: PathBuf,
    },
    /// From the codes crate.
    #[error("error-detection study: {0}")]
    Ecc(String),
    /// From the repair crate.
    #[error(transparent)]
    Correct(#[from] xbar_correct::CorrectError),
    /// A bad `--shard`, or shard folders that do not merge.
    #[error("{0}")]
    Shard(String),
}
