//! Validation of the real-number-code repair studies: `[phase-transition]`, `[mnist-repair]`
//! and `[crossbar-repair]` (Li, Cho, Jin & Xu; `reference/ecc-math.md` A.5-A.8).

use std::path::{Path, PathBuf};

use serde::Serialize;
use xbar_correct::repair::{Method, RepairConfig, k_for, statistical_dimension};
use xbar_device::Issues;
use xbar_nn::TrainConfig;
use xbar_nn::mnist::{MNIST_FILES, MNIST_PIXELS, find_mnist_dir};

use crate::raw::{RawCrossbarRepair, RawMnistRepair, RawPhaseTransition};

/// Hidden width of the paper's MNIST network (784-256-10).
pub const MNIST_HIDDEN: usize = 256;

/// Training images of MNIST.
pub const MNIST_TRAIN_IMAGES: usize = 60_000;

/// Test images of MNIST.
pub const MNIST_TEST_IMAGES: usize = 10_000;

/// The decoder a repair study runs (`xbar_correct::repair`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum RepairDecoder {
    /// L1 by the exact homotopy: in `[phase-transition]` run to the end (the basis-pursuit
    /// solution, what an LP solver returns); in the repair studies allowed to stop early at a
    /// certified sparse solution.
    L1,
    /// Orthogonal matching pursuit.
    Omp,
    /// The cascade single error -> OMP -> homotopy ([`xbar_correct::repair::decode`]).
    Cascade,
    /// Clarabel: the LP alone in `[phase-transition]`; the cascade finished by the LP in the
    /// repair studies.
    Clarabel,
}

impl RepairDecoder {
    /// The name as written in files.
    pub fn name(self) -> &'static str {
        match self {
            RepairDecoder::L1 => "l1",
            RepairDecoder::Omp => "omp",
            RepairDecoder::Cascade => "cascade",
            RepairDecoder::Clarabel => "clarabel",
        }
    }

    /// Method and settings for a phase-transition instance with `p` checks: the design bound
    /// is set to `p / 2` so that it never cuts a decoder short, and `l1` runs the homotopy to
    /// the exact basis-pursuit solution (`early_exit: false`).
    pub fn phase_config(self, p: usize) -> (Method, RepairConfig) {
        let cfg = RepairConfig {
            max_support: (p / 2).max(1),
            early_exit: self != RepairDecoder::L1,
            ..RepairConfig::default()
        };
        let method = match self {
            RepairDecoder::L1 => Method::Homotopy,
            RepairDecoder::Omp => Method::Omp,
            RepairDecoder::Cascade => Method::Cascade,
            RepairDecoder::Clarabel => Method::Clarabel,
        };
        (method, cfg)
    }

    /// Method and settings for repairing a code group designed for `design` errors.
    pub fn repair_config(self, design: usize) -> (Method, RepairConfig) {
        let cfg = RepairConfig {
            max_support: design.max(1),
            clarabel: self == RepairDecoder::Clarabel,
            ..RepairConfig::default()
        };
        let method = match self {
            RepairDecoder::L1 => Method::Homotopy,
            RepairDecoder::Omp => Method::Omp,
            RepairDecoder::Cascade | RepairDecoder::Clarabel => Method::Cascade,
        };
        (method, cfg)
    }
}

fn int_range(is: &mut Issues, key: &str, v: u64, lo: u64, hi: u64) {
    if v < lo || v > hi {
        is.push(key, v, format!("an integer in [{lo}, {hi}]"));
    }
}

/// A validated `[phase-transition]` table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PhaseTransitionSpec {
    /// Numbers of unknowns `N`.
    pub unknowns: Vec<usize>,
    /// Nonzero errors `s` per instance.
    pub errors: usize,
    /// Numbers of checks `K` (empty when `offsets` is used).
    pub constraints: Vec<usize>,
    /// Checks relative to `round(D(s, N))` (empty when `constraints` is used).
    pub offsets: Vec<i64>,
    /// Instances per point.
    pub trials: usize,
    /// The decoder.
    pub decoder: RepairDecoder,
}

impl PhaseTransitionSpec {
    /// The numbers of checks `K` swept for `n` unknowns, ascending.
    pub fn ks(&self, n: usize) -> Vec<usize> {
        let mut ks: Vec<usize> = if self.offsets.is_empty() {
            self.constraints.clone()
        } else {
            let d = statistical_dimension(self.errors, n).round() as i64;
            self.offsets
                .iter()
                .map(|&o| (d + o).max(1) as usize)
                .collect()
        };
        ks.sort_unstable();
        ks
    }

    /// Number of (N, K) points.
    pub fn points(&self) -> usize {
        self.unknowns.iter().map(|&n| self.ks(n).len()).sum()
    }

    /// Number of decoded instances.
    pub fn instances(&self) -> usize {
        self.points() * self.trials
    }
}

/// Largest `K x N` of one phase-transition instance (400 MB of `f64` per worker).
const MAX_MATRIX_ENTRIES: u64 = 50_000_000;

pub(crate) fn validate_phase(r: &RawPhaseTransition, is: &mut Issues) -> PhaseTransitionSpec {
    let unknowns: Vec<usize> = r
        .unknowns
        .clone()
        .unwrap_or_else(|| vec![3584, 10_000])
        .into_iter()
        .map(|n| n as usize)
        .collect();
    if unknowns.is_empty() {
        is.push(
            "phase-transition.unknowns",
            "[]",
            "at least one number of unknowns",
        );
    }
    for (i, &n) in unknowns.iter().enumerate() {
        int_range(
            is,
            &format!("phase-transition.unknowns[{i}]"),
            n as u64,
            10,
            100_000,
        );
        if unknowns[..i].contains(&n) {
            is.push(
                format!("phase-transition.unknowns[{i}]"),
                n,
                "distinct values (this one is repeated)",
            );
        }
    }
    // Bounds of the other keys come from the valid numbers of unknowns.
    let valid = || {
        unknowns
            .iter()
            .copied()
            .filter(|n| (10..=100_000).contains(n))
    };
    let n_min = valid().min().unwrap_or(10);
    let n_max = valid().max().unwrap_or(10);
    let errors = r.errors.unwrap_or(100) as usize;
    if errors == 0 || errors >= n_min {
        is.push(
            "phase-transition.errors",
            errors,
            format!("an integer in [1, {}] (below the smallest N)", n_min - 1),
        );
    }
    if r.constraints.is_some() && r.offsets.is_some() {
        is.push(
            "phase-transition.offsets",
            "(set together with constraints)",
            "either `constraints` (absolute K) or `offsets` (K relative to D(s, N)), not both",
        );
    }
    let offsets: Vec<i64> = r
        .offsets
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(i64::from)
        .collect();
    if r.offsets.as_ref().is_some_and(Vec::is_empty) {
        is.push("phase-transition.offsets", "[]", "at least one offset");
    }
    for (i, &o) in offsets.iter().enumerate() {
        let key = format!("phase-transition.offsets[{i}]");
        if !(-100_000..=100_000).contains(&o) {
            is.push(&key, o, "an integer in [-100000, 100000]");
            continue;
        }
        if offsets[..i].contains(&o) {
            is.push(&key, o, "distinct values (this one is repeated)");
        }
        if errors == 0 || errors >= n_min {
            continue;
        }
        for n in valid() {
            let k = statistical_dimension(errors, n).round() as i64 + o;
            if k < 1 || k > n as i64 {
                is.push(
                    &key,
                    o,
                    format!("K = round(D({errors}, {n})) + offset = {k} in [1, {n}]"),
                );
            } else if k as u64 * n as u64 > MAX_MATRIX_ENTRIES {
                is.push(
                    &key,
                    o,
                    format!("K x N at most {MAX_MATRIX_ENTRIES} (400 MB per worker): K = {k} for N = {n} is too many"),
                );
            }
        }
    }
    let constraints: Vec<usize> = match (&r.constraints, &r.offsets) {
        (_, Some(_)) => Vec::new(),
        (c, None) => c
            .clone()
            .unwrap_or_else(|| (1..=10).map(|k| 100 * k).collect())
            .into_iter()
            .map(|k| k as usize)
            .collect(),
    };
    if r.constraints.as_ref().is_some_and(Vec::is_empty) {
        is.push(
            "phase-transition.constraints",
            "[]",
            "at least one number of checks",
        );
    }
    for (i, &k) in constraints.iter().enumerate() {
        let key = format!("phase-transition.constraints[{i}]");
        if k == 0 || k > n_min {
            is.push(
                &key,
                k,
                format!("an integer in [1, {n_min}] (at most the smallest N)"),
            );
        } else if k as u64 * n_max as u64 > MAX_MATRIX_ENTRIES {
            is.push(
                &key,
                k,
                format!(
                    "K x N at most {MAX_MATRIX_ENTRIES} (400 MB per worker): K <= {} for N = {n_max}",
                    MAX_MATRIX_ENTRIES / n_max as u64
                ),
            );
        }
        if constraints[..i].contains(&k) {
            is.push(&key, k, "distinct values (this one is repeated)");
        }
    }
    let trials = r.trials.unwrap_or(100) as usize;
    int_range(is, "phase-transition.trials", trials as u64, 1, 100_000);
    let decoder = r.decoder.unwrap_or(RepairDecoder::L1);
    PhaseTransitionSpec {
        unknowns,
        errors,
        constraints,
        offsets,
        trials,
        decoder,
    }
}

/// A validated `[mnist-repair]` table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MnistRepairSpec {
    /// Folder of the four MNIST files.
    pub mnist_dir: PathBuf,
    /// Training images used (the first ones).
    pub train_images: usize,
    /// Test images classified (the first ones).
    pub test_images: usize,
    /// Training of the 784-256-10 network.
    pub train: TrainConfig,
    /// Input columns of `W` per code group.
    pub group_inputs: usize,
    /// Number of groups, `ceil(784 / group_inputs)`.
    pub groups: usize,
    /// Design errors per group (the decoders' bound).
    pub design_errors: usize,
    /// Gaussian (type-1) checks `K` per group.
    pub type1_per_group: usize,
    /// Output (type-2) checks `L` (the all-ones check first).
    pub output_checks: usize,
    /// Projected fine-tuning epochs.
    pub finetune_epochs: u32,
    /// Fine-tuning learning rate.
    pub finetune_learning_rate: f64,
    /// Total weight errors per level.
    pub errors: Vec<usize>,
    /// Standard deviation of weight error values.
    pub error_std: f64,
    /// Trials per level.
    pub trials: usize,
    /// Nonzero datapath errors per image.
    pub datapath_errors: usize,
    /// Standard deviation of datapath error values.
    pub datapath_std: f64,
    /// The memory-error decoder.
    pub decoder: RepairDecoder,
}

impl MnistRepairSpec {
    /// Weights of the coded matrix `W` (784 x 256 = 200,704).
    pub fn weights(&self) -> usize {
        MNIST_PIXELS * MNIST_HIDDEN
    }

    /// Constraints per full group, `K + L * group_inputs`.
    pub fn constraints_per_group(&self) -> usize {
        self.type1_per_group + self.output_checks * self.group_inputs
    }

    /// Number of (level, trial) runs.
    pub fn runs(&self) -> usize {
        self.errors.len() * self.trials
    }
}

/// The MNIST folder of `[mnist-repair]`: an explicit `mnist-dir` (relative to `base`) or the
/// first `data/mnist` found from `base` upwards; every missing file is an issue.
fn mnist_dir(r: &RawMnistRepair, base: &Path, is: &mut Issues) -> PathBuf {
    let key = "mnist-repair.mnist-dir";
    let dir = match &r.mnist_dir {
        Some(d) => base.join(d),
        None => {
            let start = if base.as_os_str().is_empty() {
                std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
            } else {
                base.to_path_buf()
            };
            let found = find_mnist_dir(&start).or_else(|| {
                std::fs::canonicalize(&start)
                    .ok()
                    .and_then(|abs| find_mnist_dir(&abs))
            });
            match found {
                Some(d) => d,
                None => {
                    is.push(
                        key,
                        format!(
                            "(not set, and no data/mnist found in {} or its ancestors)",
                            start.display()
                        ),
                        "a folder holding the four MNIST .gz files (see data/mnist/README.md)",
                    );
                    return PathBuf::from("data/mnist");
                }
            }
        }
    };
    if !dir.is_dir() {
        is.push(
            key,
            format!("{:?}", dir.display().to_string()),
            format!(
                "an existing folder holding {} (folder not found)",
                MNIST_FILES.join(", ")
            ),
        );
        return dir;
    }
    let missing: Vec<&str> = MNIST_FILES
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if !missing.is_empty() {
        is.push(
            key,
            format!("{:?}", dir.display().to_string()),
            format!(
                "a folder holding {} (missing: {})",
                MNIST_FILES.join(", "),
                missing.join(", ")
            ),
        );
    }
    dir
}

pub(crate) fn validate_mnist(r: &RawMnistRepair, base: &Path, is: &mut Issues) -> MnistRepairSpec {
    let p = |k: &str| format!("mnist-repair.{k}");
    let mnist_dir = mnist_dir(r, base, is);
    let train_images = r.train_images.unwrap_or(MNIST_TRAIN_IMAGES as u32) as usize;
    int_range(
        is,
        &p("train-images"),
        train_images as u64,
        100,
        MNIST_TRAIN_IMAGES as u64,
    );
    let test_images = r.test_images.unwrap_or(MNIST_TEST_IMAGES as u32) as usize;
    int_range(
        is,
        &p("test-images"),
        test_images as u64,
        100,
        MNIST_TEST_IMAGES as u64,
    );
    let train = TrainConfig {
        hidden: vec![MNIST_HIDDEN],
        epochs: r.epochs.unwrap_or(8),
        batch_size: r.batch_size.unwrap_or(128),
        learning_rate: r.learning_rate.unwrap_or(1e-3),
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        l2: r.l2.unwrap_or(1e-4),
        seed: r.train_seed.unwrap_or(0),
    };
    int_range(is, &p("epochs"), u64::from(train.epochs), 1, 1000);
    int_range(is, &p("batch-size"), u64::from(train.batch_size), 1, 60_000);
    is.check_range(&p("learning-rate"), train.learning_rate, 0.0, 1.0, true);
    is.check_range(&p("l2"), train.l2, 0.0, 1.0, false);

    let group_inputs = r.group_inputs.unwrap_or(14) as usize;
    int_range(
        is,
        &p("group-inputs"),
        group_inputs as u64,
        1,
        MNIST_PIXELS as u64,
    );
    let group_inputs = group_inputs.clamp(1, MNIST_PIXELS);
    let groups = MNIST_PIXELS.div_ceil(group_inputs);
    let n_group = group_inputs * MNIST_HIDDEN;
    let design_errors = r.design_errors.unwrap_or(10) as usize;
    int_range(is, &p("design-errors"), design_errors as u64, 1, 200);
    let type1_per_group = match r.type1_per_group {
        Some(k) => {
            int_range(is, &p("type1-per-group"), u64::from(k), 1, 10_000);
            k as usize
        }
        None => k_for(design_errors.clamp(1, 200), n_group),
    };
    let output_checks = r.output_checks.unwrap_or(16) as usize;
    int_range(is, &p("output-checks"), output_checks as u64, 1, 64);
    // The smallest group must keep free weights: K + L rows <= its weights.
    let last_rows = MNIST_PIXELS - (groups - 1) * group_inputs;
    for (rows, what) in [
        (group_inputs, "a full group"),
        (last_rows, "the last group"),
    ] {
        let need = type1_per_group + output_checks * rows;
        if need >= rows * MNIST_HIDDEN {
            is.push(
                p(if r.type1_per_group.is_some() {
                    "type1-per-group"
                } else {
                    "design-errors"
                }),
                if r.type1_per_group.is_some() {
                    type1_per_group.to_string()
                } else {
                    design_errors.to_string()
                },
                format!(
                    "fewer constraints than weights: {what} ({rows} inputs x {MNIST_HIDDEN} = {} weights) would get K = {type1_per_group} + {} output-check rows",
                    rows * MNIST_HIDDEN,
                    output_checks * rows
                ),
            );
            break;
        }
    }
    let finetune_epochs = r.finetune_epochs.unwrap_or(0);
    int_range(
        is,
        &p("finetune-epochs"),
        u64::from(finetune_epochs),
        0,
        100,
    );
    let finetune_learning_rate = r.finetune_learning_rate.unwrap_or(1e-4);
    is.check_range(
        &p("finetune-learning-rate"),
        finetune_learning_rate,
        0.0,
        1.0,
        true,
    );

    let errors: Vec<usize> = r
        .errors
        .clone()
        .unwrap_or_else(|| vec![70, 140, 210, 280, 350, 420])
        .into_iter()
        .map(|e| e as usize)
        .collect();
    if errors.is_empty() || errors.len() > 100 {
        is.push(
            p("errors"),
            format!("{} levels", errors.len()),
            "1 to 100 error levels",
        );
    }
    for (i, &e) in errors.iter().enumerate() {
        int_range(
            is,
            &format!("mnist-repair.errors[{i}]"),
            e as u64,
            0,
            (MNIST_PIXELS * MNIST_HIDDEN) as u64,
        );
    }
    let error_std = r.error_std.unwrap_or(5.0);
    is.check_range(&p("error-std"), error_std, 0.0, 100.0, true);
    let trials = r.trials.unwrap_or(10) as usize;
    int_range(is, &p("trials"), trials as u64, 1, 1000);
    let datapath_errors = r.datapath_errors.unwrap_or(2) as usize;
    int_range(
        is,
        &p("datapath-errors"),
        datapath_errors as u64,
        0,
        MNIST_HIDDEN as u64,
    );
    let datapath_std = r.datapath_std.unwrap_or(5.0);
    is.check_range(&p("datapath-std"), datapath_std, 0.0, 100.0, true);
    let decoder = r.decoder.unwrap_or(RepairDecoder::Cascade);
    MnistRepairSpec {
        mnist_dir,
        train_images,
        test_images,
        train,
        group_inputs,
        groups,
        design_errors,
        type1_per_group,
        output_checks,
        finetune_epochs,
        finetune_learning_rate,
        errors,
        error_std,
        trials,
        datapath_errors,
        datapath_std,
        decoder,
    }
}

/// The code of one array in `[crossbar-repair]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerCode {
    /// Layer (array) index.
    pub layer: usize,
    /// Array rows (inputs + bias row).
    pub rows: usize,
    /// Array columns (outputs).
    pub cols: usize,
    /// Rows per group (the last group may have fewer).
    pub group_rows: usize,
    /// Number of groups.
    pub groups: usize,
    /// Gaussian (type-1) checks per group, from the design rule on the largest group.
    pub type1_per_group: usize,
}

impl LayerCode {
    /// Rows of group `g`.
    pub fn rows_of(&self, g: usize) -> usize {
        self.group_rows.min(self.rows - g * self.group_rows)
    }
}

/// A validated `[crossbar-repair]` table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CrossbarRepairSpec {
    /// Most array rows per group.
    pub group_rows: usize,
    /// Design stuck pairs per group.
    pub design_errors: usize,
    /// Projected fine-tuning epochs of each coded network.
    pub finetune_epochs: u32,
    /// The blind decoder.
    pub decoder: RepairDecoder,
    /// The code of every injected layer, ascending.
    pub codes: Vec<LayerCode>,
}

impl CrossbarRepairSpec {
    /// The code of `layer`, if it is injected.
    pub fn code(&self, layer: usize) -> Option<&LayerCode> {
        self.codes.iter().find(|c| c.layer == layer)
    }
}

/// Validates `[crossbar-repair]` for the arrays `shapes` (rows incl. bias, columns) and the
/// injected `layers`.
pub(crate) fn validate_crossbar(
    r: &RawCrossbarRepair,
    shapes: &[(usize, usize)],
    layers: &[usize],
    is: &mut Issues,
) -> CrossbarRepairSpec {
    let p = |k: &str| format!("crossbar-repair.{k}");
    let group_rows = r.group_rows.unwrap_or(13) as usize;
    int_range(is, &p("group-rows"), group_rows as u64, 1, 4096);
    let design_errors = r.design_errors.unwrap_or(8) as usize;
    int_range(is, &p("design-errors"), design_errors as u64, 1, 1000);
    let finetune_epochs = r.finetune_epochs.unwrap_or(10);
    int_range(
        is,
        &p("finetune-epochs"),
        u64::from(finetune_epochs),
        0,
        1000,
    );
    let decoder = r.decoder.unwrap_or(RepairDecoder::Cascade);
    let mut codes = Vec::new();
    if (1..=4096).contains(&group_rows) && (1..=1000).contains(&design_errors) {
        for &l in layers {
            let Some(&(rows, cols)) = shapes.get(l) else {
                continue;
            };
            // Balanced groups: ceil(rows / group-rows) groups of near-equal size.
            let groups = rows.div_ceil(group_rows);
            let per = rows.div_ceil(groups);
            let code = LayerCode {
                layer: l,
                rows,
                cols,
                group_rows: per,
                groups: rows.div_ceil(per),
                type1_per_group: k_for(design_errors, per * cols),
            };
            let small = code.rows_of(code.groups - 1);
            let need = code.type1_per_group + small;
            if need >= small * cols {
                is.push(
                    p("design-errors"),
                    design_errors,
                    format!(
                        "a code that fits layer {l} ({rows} x {cols} pairs): a group of {small} rows ({} pairs) would need {} Gaussian + {small} column-sum checks; lower design-errors or raise group-rows",
                        small * cols,
                        code.type1_per_group
                    ),
                );
            }
            codes.push(code);
        }
    }
    CrossbarRepairSpec {
        group_rows,
        design_errors,
        finetune_epochs,
        decoder,
        codes,
    }
}
