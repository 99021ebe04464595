//! Validation: from the raw file to the [`Experiment`] the runner accepts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize as _, Serialize};
use xbar_crossbar::chip::{Chip, Placement};
use xbar_crossbar::{
    Adc, AdcRange, Center, CircuitConfig, FaultLevel, LineSize, Mapping, RLoad, Shape, StuckState,
    WireConfig, read_mask_file,
};
use xbar_device::{DeviceCard, Issues, Variability, fmt_f64, line_col};
use xbar_nn::TrainConfig;

use crate::ExperimentError;
use crate::raw::{
    CodeFamily, ProtocolName, RLoadMode, RawAdcRange, RawCircuit, RawCorrection, RawDetection,
    RawDevice, RawExperiment, RawNetwork, RawRLoad, RawSweep, RawWires, StateName,
};
use crate::repair_config::{
    CrossbarRepairSpec, MnistRepairSpec, PhaseTransitionSpec, validate_crossbar, validate_mnist,
    validate_phase,
};
use xbar_correct::{Architecture, CorrectorConfig, Protocol};

/// The default experiment (Sawal & Wong 2025 layer sensitivity), embedded in the binary.
pub const DEFAULT_EXPERIMENT_TOML: &str =
    include_str!("../../../experiments/sawal2025/layer-sensitivity.toml");
/// Name shown for the embedded default experiment.
pub const DEFAULT_EXPERIMENT_ORIGIN: &str = "builtin:experiments/sawal2025/layer-sensitivity.toml";

/// Dataset of the software network.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// The embedded UCI 8x8 digits (1797 images, 64 inputs, 10 classes).
    Digits,
}

impl DatasetKind {
    /// Number of input features.
    pub fn inputs(&self) -> usize {
        64
    }
    /// Number of classes.
    pub fn classes(&self) -> usize {
        10
    }
    /// Number of samples.
    pub fn samples(&self) -> usize {
        1797
    }
}

/// The validated software-network settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NetworkSpec {
    /// Dataset.
    pub dataset: DatasetKind,
    /// Layer widths including input and output, e.g. `[64, 50, 20, 8, 10]`.
    pub sizes: Vec<usize>,
    /// Held-out test images.
    pub test_size: usize,
    /// Split seed.
    pub split_seed: u64,
    /// Training settings.
    pub train: TrainConfig,
    /// An imported network (`[network] onnx` with `[dataset]`) instead of the trained one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imported: Option<crate::ImportedNetwork>,
    /// The user's data (`[dataset]` without a model file): the in-tool MLP trains on its
    /// training split and is tested on its test split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<crate::imported::UserData>,
}

impl NetworkSpec {
    /// Array shapes `(rows incl. bias, columns)` per layer.
    pub fn array_shapes(&self) -> Vec<(usize, usize)> {
        match &self.imported {
            Some(m) => m.array_shapes(),
            None => self.sizes.windows(2).map(|w| (w[0] + 1, w[1])).collect(),
        }
    }

    /// Number of arrays.
    pub fn n_layers(&self) -> usize {
        self.array_shapes().len()
    }

    /// Samples every scenario evaluates (all images of the in-tool dataset, the test samples
    /// of an imported one).
    pub fn samples(&self) -> usize {
        match (&self.imported, &self.user_data) {
            (Some(m), _) => m.data.test_samples,
            (None, Some(u)) => u.data.test_samples,
            (None, None) => self.dataset.samples(),
        }
    }
}

/// One defect geometry of a sweep with its size coordinate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SizedShape {
    /// The geometry.
    pub shape: Shape,
    /// The swept size value (`None` for fixed shapes such as checkerboard).
    pub size: Option<f64>,
}

/// A validated `[[sweep]]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sweep {
    /// Shape kind name (`circle`, `ring`, ...).
    pub kind: String,
    /// Name in plots and tables.
    pub label: String,
    /// One entry per size.
    pub shapes: Vec<SizedShape>,
    /// Sets of layers injected together (usually singletons).
    pub layer_sets: Vec<Vec<usize>>,
    /// Stuck states.
    pub states: Vec<StuckState>,
    /// Pair or device level.
    pub level: FaultLevel,
    /// Where the shape is drawn (logical array, every tile, the die).
    pub placement: Placement,
    /// Independent repetitions.
    pub repeats: u32,
}

/// A validated experiment: everything the runner needs, with defaults applied.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Experiment {
    /// Study name (output folder).
    pub name: String,
    /// Description.
    pub description: String,
    /// Where the file came from.
    pub origin: String,
    /// Experiment seed.
    pub seed: u64,
    /// The device card (with the I-V override applied).
    pub device: DeviceCard,
    /// Programming variability.
    pub variability: Variability,
    /// Software network.
    pub network: NetworkSpec,
    /// Circuit settings.
    pub circuit: CircuitConfig,
    /// Interconnect settings, one per value of the wire sweep (at least one; a single ideal
    /// entry when the file has no `[wires]` table and no op-amp gain).
    pub wires: Vec<WireConfig>,
    /// Sweeps.
    pub sweeps: Vec<Sweep>,
    /// Studies run on the sweep's circuits (`[correction]`, `[detection]`,
    /// `[crossbar-repair]`), in that order; empty for a plain sweep.
    pub analyses: Vec<Analysis>,
    /// A standalone study (`[phase-transition]`, `[mnist-repair]`) instead of the sweep.
    pub standalone: Option<Standalone>,
    /// Exports for other tools (`export = [...]`), sorted, without repeats.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<crate::Export>,
    /// Command-line overrides (`key=value`) applied on top of the file, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<String>,
}

/// A study on the sweep's circuits: it composes with the sweep and with the other analyses
/// (each states what it needs of the sweep).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Analysis {
    /// MLP post-correctors trained on the faulty circuits' output voltages.
    Correction(CorrectionSpec),
    /// Every checking code applied to each scenario's array.
    Detection(DetectionSpec),
    /// A real-number code on each scenario's array, repaired by L1 / erasure decoding.
    CrossbarRepair(CrossbarRepairSpec),
}

impl Analysis {
    /// The TOML table name.
    pub fn table(&self) -> &'static str {
        match self {
            Analysis::Correction(_) => "correction",
            Analysis::Detection(_) => "detection",
            Analysis::CrossbarRepair(_) => "crossbar-repair",
        }
    }
}

/// A study that replaces the sweep: no network, circuit or defect tables.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Standalone {
    /// L1 decoding success versus the number of checks (Li et al. Fig. 2).
    PhaseTransition(PhaseTransitionSpec),
    /// Repair of the MNIST 784-256-10 network (Li et al. Fig. 1).
    MnistRepair(MnistRepairSpec),
}

impl Standalone {
    /// The TOML table name.
    pub fn table(&self) -> &'static str {
        match self {
            Standalone::PhaseTransition(_) => "phase-transition",
            Standalone::MnistRepair(_) => "mnist-repair",
        }
    }
}

/// A validated `[detection]` table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DetectionSpec {
    /// Code families reported.
    pub codes: Vec<CodeFamily>,
    /// Read noise per comparator output, V.
    pub sigma_read: f64,
    /// Threshold multiple.
    pub kappa: f64,
    /// Input vectors (first images).
    pub images: usize,
    /// Run the input-fault experiment.
    pub input_faults: bool,
}

fn validate_detection(d: &RawDetection, is: &mut Issues) -> DetectionSpec {
    let codes = d.codes.clone().unwrap_or_else(|| CodeFamily::ALL.to_vec());
    if codes.is_empty() {
        is.push("detection.codes", "[]", "at least one code family");
    }
    let sigma_read = d.sigma_read_volts.unwrap_or(1e-4);
    is.check_range("detection.sigma-read-volts", sigma_read, 0.0, 0.1, false);
    let kappa = d.kappa.unwrap_or(4.0);
    is.check_range("detection.kappa", kappa, 0.0, 100.0, true);
    let images = d.images.unwrap_or(1797);
    if images == 0 || images > 1797 {
        is.push("detection.images", images, "an integer in [1, 1797]");
    }
    DetectionSpec {
        codes,
        sigma_read,
        kappa,
        images: images as usize,
        input_faults: d.input_faults.unwrap_or(false),
    }
}

/// A validated `[correction]` table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CorrectionSpec {
    /// Corrector architectures.
    pub architectures: Vec<Architecture>,
    /// Protocols.
    pub protocols: Vec<Protocol>,
    /// Cross-defect (every train/test pair) or same-defect only.
    pub cross: bool,
    /// Training settings.
    pub train: CorrectorConfig,
    /// Write `samples.csv`.
    pub export_samples: bool,
}

fn validate_correction(c: &RawCorrection, is: &mut Issues) -> CorrectionSpec {
    let architectures: Vec<Architecture> = match &c.architectures {
        None => Architecture::paper_table(),
        Some(list) => {
            if list.is_empty() {
                is.push(
                    "correction.architectures",
                    "[]",
                    "at least one architecture, e.g. [[10, 10]]",
                );
            }
            list.iter()
                .enumerate()
                .map(|(k, h)| {
                    if h.len() > 6 || h.iter().any(|&w| w == 0 || w > 1024) {
                        is.push(
                            format!("correction.architectures[{k}]"),
                            format!("{h:?}"),
                            "0 to 6 hidden widths, each in 1..=1024",
                        );
                    }
                    Architecture::new(&h.iter().map(|&w| w as usize).collect::<Vec<_>>())
                })
                .collect()
        }
    };
    let holdout = c.holdout.unwrap_or(1000) as usize;
    let train_fraction = c.train_fraction.unwrap_or(0.8);
    if !(train_fraction > 0.0 && train_fraction < 1.0) {
        is.push(
            "correction.train-fraction",
            fmt_f64(train_fraction),
            "a number in (0, 1)",
        );
    }
    let mut protocols = Vec::new();
    for p in c
        .protocols
        .clone()
        .unwrap_or_else(|| vec![ProtocolName::Paper, ProtocolName::ByImage])
    {
        protocols.push(match p {
            ProtocolName::Paper => Protocol::Paper {
                holdout,
                train_fraction,
            },
            ProtocolName::ByImage => Protocol::ByImage,
        });
    }
    if c.protocols.as_ref().is_some_and(Vec::is_empty) {
        is.push(
            "correction.protocols",
            "[]",
            "at least one of \"paper\", \"by-image\"",
        );
    }
    let d = CorrectorConfig::default();
    let train = CorrectorConfig {
        epochs: c.epochs.unwrap_or(d.epochs),
        batch_size: c.batch_size.unwrap_or(d.batch_size),
        learning_rate: c.learning_rate.unwrap_or(d.learning_rate),
        l2: c.l2.unwrap_or(d.l2),
        seed: c.seed.unwrap_or(d.seed),
    };
    if train.epochs == 0 || train.epochs > 10_000 {
        is.push(
            "correction.epochs",
            train.epochs,
            "an integer in [1, 10000]",
        );
    }
    if train.batch_size == 0 {
        is.push("correction.batch-size", 0, "an integer >= 1");
    }
    is.check_range(
        "correction.learning-rate",
        train.learning_rate,
        0.0,
        1.0,
        true,
    );
    is.check_range("correction.l2", train.l2, 0.0, 1.0, false);
    CorrectionSpec {
        architectures,
        protocols,
        cross: c.cross.unwrap_or(true),
        train,
        export_samples: c.export_samples.unwrap_or(false),
    }
}

/// The paper's sizes for each shape (Sawal & Wong 2025, section II.B). Rows and columns use
/// fractions 0.05-0.2 of the lines, which gives the paper's "1 to 13 rows" and "1 to 10
/// columns" over the four arrays of the digits network.
pub fn paper_sizes(shape: &str) -> Option<&'static [f64]> {
    match shape {
        "circle" => Some(&[0.1, 0.2, 0.3, 0.4]),
        "ring" => Some(&[0.40, 0.36, 0.32, 0.28]),
        "circle-complement" => Some(&[0.4, 0.3, 0.2, 0.1]),
        "rows" | "columns" => Some(&[0.05, 0.10, 0.15, 0.20]),
        "random" => Some(&[0.1, 0.2, 0.3, 0.4]),
        "clusters" => Some(&[0.05, 0.10, 0.15, 0.20]),
        _ => None,
    }
}

/// Every shape name accepted in `[[sweep]] shape`.
pub const SHAPES: &str =
    "circle, ring, circle-complement, rows, columns, checkerboard, random, clusters, mask";

impl Experiment {
    /// The embedded default experiment.
    pub fn default_experiment() -> Result<Experiment, ExperimentError> {
        Self::from_toml_str(DEFAULT_EXPERIMENT_TOML, DEFAULT_EXPERIMENT_ORIGIN, None)
    }

    /// Reads and validates an experiment file; relative paths inside it resolve against its
    /// folder.
    pub fn from_file(path: &Path) -> Result<Experiment, ExperimentError> {
        let text = std::fs::read_to_string(path).map_err(|source| ExperimentError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text, &path.display().to_string(), path.parent())
    }

    /// Reads an experiment file (or the built-in default when `path` is `None`) and applies
    /// command-line overrides `key.path=value` before validation, exactly as if the file held
    /// them: `value` is a TOML value (`3`, `"rows"`, `[0, 1]`, `true`) or, if it does not parse
    /// as one, a bare string; an array element is addressed by its index
    /// (`sweep.0.repeats=5`). The overrides are recorded in [`Experiment::overrides`].
    ///
    /// ```
    /// use xbar_experiment::Experiment;
    /// let exp = Experiment::load(None, &["seed=3".into(), "device.card=hfox-linear".into()])?;
    /// assert_eq!(exp.seed, 3);
    /// assert_eq!(exp.overrides.len(), 2);
    /// let err = Experiment::load(None, &["seed=-1".into()]).unwrap_err().to_string();
    /// assert!(err.contains("seed"), "{err}");
    /// # Ok::<(), xbar_experiment::ExperimentError>(())
    /// ```
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Experiment, ExperimentError> {
        let (text, origin, base) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|source| ExperimentError::Io {
                    path: p.to_path_buf(),
                    source,
                })?,
                p.display().to_string(),
                p.parent(),
            ),
            None => (
                DEFAULT_EXPERIMENT_TOML.to_string(),
                DEFAULT_EXPERIMENT_ORIGIN.to_string(),
                None,
            ),
        };
        Self::from_toml_with(&text, &origin, base, overrides)
    }

    /// [`Experiment::from_toml_str`] with command-line overrides applied before validation
    /// (see [`Experiment::load`]).
    pub fn from_toml_with(
        text: &str,
        origin: &str,
        base: Option<&Path>,
        overrides: &[String],
    ) -> Result<Experiment, ExperimentError> {
        if overrides.is_empty() {
            return Self::from_toml_str(text, origin, base);
        }
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| parse_error(&e, origin, text))?;
        for o in overrides {
            apply_override(&mut table, o).map_err(|message| ExperimentError::Parse {
                file: format!("--set {o}"),
                line: 0,
                column: 0,
                message,
            })?;
        }
        let origin = format!("{origin} (with --set {})", overrides.join(" --set "));
        let raw = RawExperiment::deserialize(toml::Value::Table(table)).map_err(|e| {
            ExperimentError::Parse {
                file: origin.clone(),
                line: 0,
                column: 0,
                message: e.message().trim().to_string(),
            }
        })?;
        let mut exp = validate(raw, &origin, base.unwrap_or(Path::new("")))?;
        exp.overrides = overrides.to_vec();
        Ok(exp)
    }

    /// Parses and validates TOML text. `origin` names the file in messages; `base` is the
    /// folder relative paths resolve against (`None`: the current directory).
    pub fn from_toml_str(
        text: &str,
        origin: &str,
        base: Option<&Path>,
    ) -> Result<Experiment, ExperimentError> {
        let raw: RawExperiment = toml::from_str(text).map_err(|e| parse_error(&e, origin, text))?;
        validate(raw, origin, base.unwrap_or(Path::new("")))
    }

    /// Number of scenarios the sweeps expand to (times the number of wire settings).
    pub fn scenario_count(&self) -> usize {
        self.wires.len()
            * self
                .sweeps
                .iter()
                .map(|s| s.shapes.len() * s.layer_sets.len() * s.states.len() * s.repeats as usize)
                .sum::<usize>()
    }

    /// The table name of the standalone study of a file without sweeps
    /// (`phase-transition`, `mnist-repair`), if it has one.
    pub fn standalone(&self) -> Option<&'static str> {
        self.standalone.as_ref().map(Standalone::table)
    }

    /// The `[correction]` study, if any.
    pub fn correction(&self) -> Option<&CorrectionSpec> {
        self.analyses.iter().find_map(|a| match a {
            Analysis::Correction(c) => Some(c),
            _ => None,
        })
    }

    /// The `[detection]` study, if any.
    pub fn detection(&self) -> Option<&DetectionSpec> {
        self.analyses.iter().find_map(|a| match a {
            Analysis::Detection(d) => Some(d),
            _ => None,
        })
    }

    /// The `[crossbar-repair]` study, if any.
    pub fn crossbar_repair(&self) -> Option<&CrossbarRepairSpec> {
        self.analyses.iter().find_map(|a| match a {
            Analysis::CrossbarRepair(c) => Some(c),
            _ => None,
        })
    }

    /// The `[phase-transition]` study, if any.
    pub fn phase_transition(&self) -> Option<&PhaseTransitionSpec> {
        match &self.standalone {
            Some(Standalone::PhaseTransition(p)) => Some(p),
            _ => None,
        }
    }

    /// The `[mnist-repair]` study, if any.
    pub fn mnist_repair(&self) -> Option<&MnistRepairSpec> {
        match &self.standalone {
            Some(Standalone::MnistRepair(m)) => Some(m),
            _ => None,
        }
    }

    /// True when some scenario needs the nodal (wire-resistance) solver.
    pub fn has_wires(&self) -> bool {
        self.wires.iter().any(|w| !w.is_ideal())
    }
}

fn validate(raw: RawExperiment, origin: &str, base: &Path) -> Result<Experiment, ExperimentError> {
    let mut is = Issues::default();
    let invalid = |issues: Issues| ExperimentError::Invalid {
        file: origin.to_string(),
        issues,
    };

    if raw.name.is_empty()
        || raw.name.len() > 100
        || !raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || raw.name.starts_with('.')
    {
        is.push(
            "name",
            format!("{:?}", raw.name),
            "1-100 characters from A-Z a-z 0-9 - _ . (not starting with .)",
        );
    }

    // Device.
    let card_name = raw
        .device
        .card
        .clone()
        .unwrap_or_else(|| "hfox-stanford".into());
    let mut device = if xbar_device::BUILTIN_CARDS.contains(&card_name.as_str()) {
        DeviceCard::builtin(&card_name).ok()
    } else if card_name.ends_with(".toml") {
        match DeviceCard::from_file(&base.join(&card_name)) {
            Ok(c) => Some(c),
            Err(e) => {
                is.push(
                    "device.card",
                    format!("{card_name:?}"),
                    format!("a readable, valid device card ({e})"),
                );
                None
            }
        }
    } else {
        is.push(
            "device.card",
            format!("{card_name:?}"),
            format!(
                "a built-in card ({}) or a path to a .toml card",
                xbar_device::BUILTIN_CARDS.join(", ")
            ),
        );
        None
    };
    if let (Some(iv), Some(card)) = (raw.device.iv, device.as_mut()) {
        card.params.iv = iv;
    }
    let variability = Variability {
        sigma_gap: raw.device.sigma_gap_nm.unwrap_or(0.0) / 1e9,
        levels: raw.device.levels.unwrap_or(0),
    };
    if let Err(v) = variability.validate() {
        is.extend_prefixed("device", v);
    }
    if variability.levels == 1 {
        is.push("device.levels", 1, "0 (continuous) or at least 2 levels");
    }

    // Network.
    let n = &raw.network;
    let dataset = n.dataset.unwrap_or(DatasetKind::Digits);
    let hidden: Vec<usize> = n
        .hidden
        .clone()
        .unwrap_or_else(|| vec![50, 20, 8])
        .into_iter()
        .map(|h| h as usize)
        .collect();
    if hidden.len() > 8 {
        is.push(
            "network.hidden",
            format!("{} layers", hidden.len()),
            "at most 8 hidden layers",
        );
    }
    for (k, h) in hidden.iter().enumerate() {
        if *h == 0 || *h > 4096 {
            is.push(format!("network.hidden[{k}]"), h, "a width in 1..=4096");
        }
    }
    let mut sizes = vec![dataset.inputs()];
    sizes.extend(&hidden);
    sizes.push(dataset.classes());
    let test_size = n.test_size.unwrap_or(180) as usize;
    if test_size < 10 || test_size > dataset.samples() - 10 {
        is.push(
            "network.test-size",
            test_size,
            format!("an integer in [10, {}]", dataset.samples() - 10),
        );
    }
    let mut train = TrainConfig::digits_default();
    train.hidden = hidden.clone();
    if let Some(e) = n.epochs {
        train.epochs = e;
        if e == 0 || e > 100_000 {
            is.push("network.epochs", e, "an integer in [1, 100000]");
        }
    }
    if let Some(b) = n.batch_size {
        train.batch_size = b;
        if b == 0 {
            is.push("network.batch-size", b, "an integer >= 1");
        }
    }
    if let Some(lr) = n.learning_rate {
        train.learning_rate = lr;
        is.check_range("network.learning-rate", lr, 0.0, 10.0, true);
    }
    if let Some(l2) = n.l2 {
        train.l2 = l2;
        is.check_range("network.l2", l2, 0.0, 1.0, false);
    }
    if let Some(s) = n.train_seed {
        train.seed = s;
    }
    let source = model_source(n, &mut is);
    let mut user_data = None;
    let imported = match &source {
        None => {
            if let (Some(d), None) = (&raw.dataset, &n.npz) {
                // The in-tool MLP trained on the user's data: their test split stays the
                // test set.
                for (key, set) in [
                    ("dataset", n.dataset.is_some()),
                    ("test-size", n.test_size.is_some()),
                    ("split-seed", n.split_seed.is_some()),
                ] {
                    if set {
                        is.push(
                            format!("network.{key}"),
                            "(set with [dataset])",
                            "nothing: the in-tool network trains on [dataset]'s training samples \
                             and is tested on its test samples (no re-split)",
                        );
                    }
                }
                mlp_only_studies(&raw, "(set with [dataset])", &mut is);
                user_data = crate::imported::validate_user_data(d, base, &mut is);
                match &user_data {
                    Some(u) => {
                        sizes = std::iter::once(u.input.len())
                            .chain(hidden.iter().copied())
                            .chain(std::iter::once(u.data.classes))
                            .collect();
                    }
                    None => return Err(invalid(is)),
                }
            }
            if n.npz.is_some() {
                // The layer list is missing or wrong: nothing to check the rest against.
                return Err(invalid(is));
            }
            None
        }
        Some(src) => {
            let with = format!("(set with {})", src.key());
            let training = [
                ("dataset", n.dataset.is_some()),
                ("hidden", n.hidden.is_some()),
                ("test-size", n.test_size.is_some()),
                ("split-seed", n.split_seed.is_some()),
                ("epochs", n.epochs.is_some()),
                ("batch-size", n.batch_size.is_some()),
                ("learning-rate", n.learning_rate.is_some()),
                ("l2", n.l2.is_some()),
                ("train-seed", n.train_seed.is_some()),
            ];
            for (key, set) in training {
                if set {
                    is.push(
                        format!("network.{key}"),
                        &with,
                        "nothing: it configures the in-tool network, not an imported one",
                    );
                }
            }
            mlp_only_studies(&raw, &with, &mut is);
            let (arrays, full) =
                crate::imported::validate_imported(src, raw.dataset.as_ref(), base, &mut is);
            match arrays {
                // Layer widths as the reports show them: inputs, then each array's outputs.
                Some(a) => {
                    sizes = std::iter::once(a.first().map_or(0, |f| f.0 - 1))
                        .chain(a.iter().map(|s| s.1))
                        .collect();
                }
                // The model could not be read: no layer count to check the sweeps against.
                None => return Err(invalid(is)),
            }
            full
        }
    };
    if let Some(m) = &imported {
        sizes = std::iter::once(m.input.len())
            .chain(m.arrays.iter().map(|a| a.cols))
            .collect();
    }
    let network = NetworkSpec {
        dataset,
        sizes: sizes.clone(),
        test_size,
        split_seed: n.split_seed.unwrap_or(0),
        train,
        imported,
        user_data,
    };
    let n_layers = sizes.len() - 1;

    // Circuit.
    let c = &raw.circuit;
    let v_in_max = c.v_in_max.unwrap_or(0.1);
    let r_load = match &c.r_load {
        None => RLoad::Calibrated,
        Some(RawRLoad::Mode(RLoadMode::Calibrated)) => RLoad::Calibrated,
        Some(RawRLoad::Mode(RLoadMode::Unity)) => RLoad::Unity,
        Some(RawRLoad::Ohms(v)) => RLoad::Ohms(v.clone()),
    };
    let mapping = c.mapping.unwrap_or(Mapping::Offset);
    let mut circuit = CircuitConfig {
        v_in_max,
        input_max: network.imported.as_ref().map_or(1.0, |m| m.data.input_max),
        v_bias: c.v_bias.unwrap_or(v_in_max),
        g_zero: c.g_zero_siemens,
        w_scale: None,
        r_load,
        rail: c.rail_volts,
        mapping,
        chip: None,
        adc: None,
    };
    if let Err(ci) = circuit.validate(n_layers) {
        is.extend_prefixed("circuit", ci);
    }
    if let (Some(g), Some(d)) = (c.g_zero_siemens, device.as_ref())
        && (g < d.params.g_min() || g >= d.params.g_max())
    {
        is.push(
            "circuit.g-zero-siemens",
            fmt_f64(g),
            format!(
                "a conductance in [G_min, G_max) = [{}, {}) S",
                fmt_f64(d.params.g_min()),
                fmt_f64(d.params.g_max())
            ),
        );
    }

    let wires = validate_wires(raw.wires.as_ref(), c.op_amp_gain, &mut is);

    // Standalone studies: a file of their own, without sweeps or circuit settings.
    let standalone: Vec<&str> = [
        raw.phase_transition.as_ref().map(|_| "phase-transition"),
        raw.mnist_repair.as_ref().map(|_| "mnist-repair"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if standalone.len() > 1 {
        is.push(
            "mnist-repair",
            "(set together with [phase-transition])",
            "one standalone study per file: [phase-transition] or [mnist-repair]",
        );
    }
    if let Some(study) = standalone.first() {
        if !raw.sweep.is_empty() {
            is.push(
                "sweep",
                format!("{} [[sweep]] table(s)", raw.sweep.len()),
                format!(
                    "no [[sweep]] with [{study}]: it is a standalone study (put the sweeps in another file)"
                ),
            );
        }
        let others = [
            ("correction", raw.correction.is_some()),
            ("detection", raw.detection.is_some()),
            ("crossbar-repair", raw.crossbar_repair.is_some()),
            ("wires", raw.wires.is_some()),
            ("device", raw.device != RawDevice::default()),
            ("network", raw.network != RawNetwork::default()),
            ("circuit", raw.circuit != RawCircuit::default()),
        ];
        for (table, set) in others {
            if set {
                is.push(
                    table,
                    format!("(set together with [{study}])"),
                    format!(
                        "nothing: [{study}] is a standalone study that uses no [{table}] table"
                    ),
                );
            }
        }
    } else if raw.sweep.is_empty() {
        is.push(
            "sweep",
            "none",
            "at least one [[sweep]] table (or a standalone [phase-transition] / [mnist-repair] table)",
        );
    }
    let mut sweeps = Vec::new();
    for (k, s) in raw.sweep.iter().enumerate() {
        if let Some(sw) = validate_sweep(s, &format!("sweep[{k}]"), n_layers, base, &mut is) {
            sweeps.push(sw);
        }
    }
    let (chip, adc) = validate_chip(&raw, &sweeps, &mut is);
    (circuit.chip, circuit.adc) = (chip, adc);
    validate_tiles(&circuit, &network.array_shapes(), &wires, &raw, &mut is);
    if let Some(m) = &network.imported {
        for (l, a) in m.arrays.iter().enumerate() {
            if let (Some([kh, kw]), Some(c)) = (a.kernel, &chip)
                && c.array[0] < kh * kw
            {
                is.push(
                    "chip.array",
                    format!("{:?}", c.array),
                    format!(
                        "at least {} rows: array {l} (conv2d) has {kh}x{kw} kernels, and one \
                         channel's window must fit one tile's rows",
                        kh * kw
                    ),
                );
            }
            // The rectifier is part of the solved circuit; pooling is not.
            let pooled = a.then.iter().any(|t| *t != "relu");
            if (a.kind != "dense" || pooled) && wires.iter().any(|w| !w.is_ideal()) {
                is.push(
                    "wires",
                    format!("(set with array {l}: {})", a.kind),
                    "ideal wires: the nodal solver models dense arrays without pooling only",
                );
            }
        }
    }
    let correction = raw
        .correction
        .as_ref()
        .map(|c| validate_correction(c, &mut is));
    let detection = raw
        .detection
        .as_ref()
        .map(|d| validate_detection(d, &mut is));
    if detection.is_some() {
        if wires.iter().any(|w| !w.is_ideal()) {
            is.push(
                "wires",
                "(set together with [detection])",
                "ideal wires with [detection] (the codes check the ideal array's outputs)",
            );
        }
        single_layers(&sweeps, "detection", &mut is);
    }
    let phase_transition = raw
        .phase_transition
        .as_ref()
        .map(|p| validate_phase(p, &mut is));
    let mnist_repair = raw
        .mnist_repair
        .as_ref()
        .map(|m| validate_mnist(m, base, &mut is));
    let crossbar_repair = raw.crossbar_repair.as_ref().map(|c| {
        let mut layers: Vec<usize> = sweeps
            .iter()
            .flat_map(|s| s.layer_sets.iter().flatten().copied())
            .collect();
        layers.sort_unstable();
        layers.dedup();
        validate_crossbar(c, &network.array_shapes(), &layers, &mut is)
    });
    if crossbar_repair.is_some() {
        if wires.iter().any(|w| !w.is_ideal()) {
            is.push(
                "wires",
                "(set together with [crossbar-repair])",
                "ideal wires with [crossbar-repair] (the code checks the programmed weights)",
            );
        }
        if !variability.is_ideal() {
            is.push(
                "device",
                "(sigma-gap-nm or levels set together with [crossbar-repair])",
                "no programming variability with [crossbar-repair] (exact syndromes: every healthy cell holds its coded weight)",
            );
        }
        single_layers(&sweeps, "crossbar-repair", &mut is);
    }
    let mut exports = raw.export.clone().unwrap_or_default();
    exports.sort_unstable();
    exports.dedup();
    if !exports.is_empty() && !standalone.is_empty() {
        is.push(
            "export",
            format!("{exports:?}"),
            "exports of a defect sweep (none with a standalone study)",
        );
    }
    if !is.is_empty() {
        return Err(invalid(is));
    }
    let exp = Experiment {
        name: raw.name,
        description: raw.description,
        origin: origin.to_string(),
        seed: raw.seed.unwrap_or(2025),
        device: device.expect("no issues implies a device"),
        variability,
        network,
        circuit,
        wires,
        sweeps,
        analyses: [
            correction.map(Analysis::Correction),
            detection.map(Analysis::Detection),
            crossbar_repair.map(Analysis::CrossbarRepair),
        ]
        .into_iter()
        .flatten()
        .collect(),
        standalone: phase_transition
            .map(Standalone::PhaseTransition)
            .or(mnist_repair.map(Standalone::MnistRepair)),
        exports,
        overrides: Vec::new(),
    };
    let count = exp.scenario_count();
    if exp.standalone().is_none() && (count == 0 || count > 1_000_000) {
        let mut is = Issues::default();
        is.push(
            "sweep",
            format!("{count} scenarios"),
            "between 1 and 1000000 scenarios in total",
        );
        return Err(invalid(is));
    }
    Ok(exp)
}

/// An analysis that codes one array per scenario needs sweeps of single layers.
fn single_layers(sweeps: &[Sweep], table: &str, is: &mut Issues) {
    for (k, s) in sweeps.iter().enumerate() {
        if s.layer_sets.iter().any(|l| l.len() != 1) {
            is.push(
                format!("sweep[{k}].layer-sets"),
                "several layers at once",
                format!("single layers with [{table}] (each scenario codes one array)"),
            );
        }
    }
}

/// The `[wires]` table (and `circuit.op-amp-gain`) as one wire setting per swept value.
fn validate_wires(w: Option<&RawWires>, gain: Option<f64>, is: &mut Issues) -> Vec<WireConfig> {
    if let Some(a) = gain {
        is.check_range("circuit.op-amp-gain", a, 1.0, 1e15, false);
    }
    let Some(w) = w else {
        return vec![WireConfig {
            op_amp_gain: gain,
            ..WireConfig::default()
        }];
    };
    let mut one = |key: &str, v: Option<f64>, hi: f64| -> f64 {
        let v = v.unwrap_or(0.0);
        is.check_range(&format!("wires.{key}"), v, 0.0, hi, false);
        v
    };
    let base = WireConfig {
        r_row: one("r-row-ohms", w.r_row_ohms, 1e3),
        r_col: one("r-col-ohms", w.r_col_ohms, 1e3),
        r_source: one("r-source-ohms", w.r_source_ohms, 1e6),
        r_in: one("r-in-ohms", w.r_in_ohms, 1e6),
        op_amp_gain: gain,
    };
    let Some(list) = &w.segment_ohms else {
        return vec![base];
    };
    if w.r_row_ohms.is_some() || w.r_col_ohms.is_some() {
        is.push(
            "wires.segment-ohms",
            "(set together with r-row-ohms / r-col-ohms)",
            "either segment-ohms (a sweep) or r-row-ohms / r-col-ohms (one setting)",
        );
    }
    if list.is_empty() || list.len() > 100 {
        is.push(
            "wires.segment-ohms",
            format!("{} values", list.len()),
            "1 to 100 values",
        );
    }
    let mut seen: Vec<f64> = Vec::new();
    for (k, &r) in list.iter().enumerate() {
        is.check_range(&format!("wires.segment-ohms[{k}]"), r, 0.0, 1e3, false);
        if seen.contains(&r) {
            is.push(
                format!("wires.segment-ohms[{k}]"),
                fmt_f64(r),
                "distinct values (this one is repeated)",
            );
        }
        seen.push(r);
    }
    list.iter()
        .map(|&r| WireConfig {
            r_row: r,
            r_col: r,
            ..base
        })
        .collect()
}

/// The studies built on the in-tool digits MLP, refused with an imported network or user
/// data (`with` says what was set).
fn mlp_only_studies(raw: &RawExperiment, with: &str, is: &mut Issues) {
    let studies = [
        ("correction", raw.correction.is_some()),
        ("detection", raw.detection.is_some()),
        ("crossbar-repair", raw.crossbar_repair.is_some()),
        ("phase-transition", raw.phase_transition.is_some()),
        ("mnist-repair", raw.mnist_repair.is_some()),
    ];
    for (table, set) in studies {
        if set {
            is.push(
                table,
                with,
                "defect sweeps only with your own network or data (this study is built on the \
                 in-tool digits MLP)",
            );
        }
    }
}

/// The imported model of `[network]`: `onnx`, or `npz` with `input` and `layers` (each
/// problem pushed, keyed).
fn model_source<'a>(
    n: &'a RawNetwork,
    is: &mut Issues,
) -> Option<crate::imported::ModelSource<'a>> {
    use crate::imported::ModelSource;
    if n.npz.is_none() {
        for (key, set) in [("input", n.input.is_some()), ("layers", n.layers.is_some())] {
            if set {
                is.push(
                    format!("network.{key}"),
                    "(set without network.npz)",
                    "nothing: it describes the layers of NPZ weights (network.npz)",
                );
            }
        }
    }
    match (&n.onnx, &n.npz) {
        (Some(_), Some(npz)) => {
            is.push(
                "network.npz",
                npz,
                "one model: network.onnx or network.npz, not both",
            );
            None
        }
        (Some(onnx), None) => Some(ModelSource::Onnx(onnx)),
        (None, None) => None,
        (None, Some(npz)) => {
            let input = match n.input.as_deref() {
                Some(&[f]) if f >= 1 => Some(xbar_nn::graph::Shape::Flat {
                    features: usize::try_from(f).unwrap_or(usize::MAX),
                }),
                Some(&[c, h, w]) if c >= 1 && h >= 1 && w >= 1 => {
                    let u = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
                    Some(xbar_nn::graph::Shape::Image {
                        channels: u(c),
                        height: u(h),
                        width: u(w),
                    })
                }
                other => {
                    is.push(
                        "network.input",
                        other.map_or("(missing)".to_string(), |v| format!("{v:?}")),
                        "the shape of one sample: [features] or [channels, height, width], each >= 1",
                    );
                    None
                }
            };
            let layers = match &n.layers {
                Some(l) if !l.is_empty() => Some(l.clone()),
                other => {
                    is.push(
                        "network.layers",
                        if other.is_some() { "[]" } else { "(missing)" },
                        "the layers of the NPZ weights, in order (at least one with weights)",
                    );
                    None
                }
            };
            Some(ModelSource::Npz(
                npz,
                xbar_import::NetworkSpec {
                    input: input?,
                    layers: layers?,
                    softmax_output: false,
                },
            ))
        }
    }
}

/// `[chip]` (the array size and the ADCs) and the sweeps' placements: tile and die
/// placement need a chip; the per-array codes work on logical arrays, so they take neither
/// placements across tiles nor ADCs.
fn validate_chip(
    raw: &RawExperiment,
    sweeps: &[Sweep],
    is: &mut Issues,
) -> (Option<Chip>, Option<Adc>) {
    let chip = raw.chip.as_ref().and_then(|c| match c.array {
        None => {
            is.push(
                "chip.array",
                "(missing)",
                "[rows, cols] of one array in devices",
            );
            None
        }
        Some([r, c]) => {
            // Saturating: a value beyond usize is out of range either way.
            let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
            let chip = Chip {
                array: [size(r), size(c)],
            };
            match chip.validate() {
                Ok(()) => Some(chip),
                Err(issues) => {
                    is.extend_prefixed("chip", issues);
                    None
                }
            }
        }
    });
    let adc = raw.chip.as_ref().and_then(|c| {
        if c.adc_bits.is_none() {
            if let Some(r) = c.adc_range {
                is.push(
                    "chip.adc-range",
                    match r {
                        RawAdcRange::Calibrated(_) => "\"calibrated\"".to_string(),
                        RawAdcRange::Volts(v) => fmt_f64(v),
                    },
                    "only with chip.adc-bits (there is no ADC without it)",
                );
            }
            return None;
        }
        let bits = c.adc_bits.unwrap_or(0);
        let adc = Adc {
            bits: u32::try_from(bits).unwrap_or(u32::MAX),
            range: match c.adc_range {
                None | Some(RawAdcRange::Calibrated(_)) => AdcRange::Calibrated,
                Some(RawAdcRange::Volts(v)) => AdcRange::Volts(v),
            },
        };
        match adc.validate() {
            Ok(()) => Some(adc),
            Err(issues) => {
                is.extend_prefixed("chip", issues);
                None
            }
        }
    });
    if let Some(c) = &raw.chip
        && c.adc_bits.is_some()
    {
        for (table, set) in [
            ("detection", raw.detection.is_some()),
            ("crossbar-repair", raw.crossbar_repair.is_some()),
        ] {
            if set {
                is.push(
                    "chip.adc-bits",
                    c.adc_bits.unwrap_or(0),
                    format!("no ADC with [{table}] (its codes check one analog array)"),
                );
            }
        }
    }
    for (k, sw) in sweeps.iter().enumerate() {
        if sw.placement == Placement::Layer {
            continue;
        }
        let key = format!("sweep[{k}].placement");
        let name = format!("{:?}", sw.placement.name());
        if raw.chip.is_none() {
            is.push(
                &key,
                &name,
                "\"layer\" (tile and die placement need a [chip] table)",
            );
        }
        for (table, set) in [
            ("detection", raw.detection.is_some()),
            ("crossbar-repair", raw.crossbar_repair.is_some()),
        ] {
            if set {
                is.push(
                    &key,
                    &name,
                    format!("\"layer\" with [{table}] (its codes work on one logical array)"),
                );
            }
        }
    }
    (chip, adc)
}

/// What the per-tile wire solver cannot do: a finite op-amp gain on a layer split over
/// several tiles' rows (the tiles share the amplifier's input node) without an ADC per tile.
fn validate_tiles(
    circuit: &CircuitConfig,
    shapes: &[(usize, usize)],
    wires: &[WireConfig],
    raw: &RawExperiment,
    is: &mut Issues,
) {
    let Some(chip) = &circuit.chip else { return };
    if circuit.adc.is_some() || wires.iter().all(|w| w.op_amp_gain.is_none()) {
        return;
    }
    if let Some((l, (rows, _))) = shapes
        .iter()
        .enumerate()
        .find(|(_, (rows, _))| *rows > chip.array[0])
    {
        is.push(
            "circuit.op-amp-gain",
            raw.circuit.op_amp_gain.map_or("(set)".into(), fmt_f64),
            format!(
                "no finite gain while array {l} ({rows} rows) is split over tiles of {} rows \
                 without an ADC: the tiles share the amplifier's input node, which the \
                 per-tile solver does not model (set chip.adc-bits, or larger tiles)",
                chip.array[0]
            ),
        );
    }
}

fn validate_sweep(
    s: &RawSweep,
    path: &str,
    n_layers: usize,
    base: &Path,
    is: &mut Issues,
) -> Option<Sweep> {
    let before = is.len();
    let kind = s.shape.name();
    let p = |key: &str| format!("{path}.{key}");
    let center = match s.center {
        None => Center::MIDDLE,
        Some([r, c]) => {
            is.check_range(&p("center[0]"), r, 0.0, 1.0, false);
            is.check_range(&p("center[1]"), c, 0.0, 1.0, false);
            Center { row: r, col: c }
        }
    };
    // Keys that belong to one shape only.
    let only = |is: &mut Issues, present: bool, key: &str, shapes: &[&str]| {
        if present && !shapes.contains(&kind) {
            is.push(
                p(key),
                "(set)",
                format!(
                    "nothing: `{key}` applies only to shape {}",
                    shapes.join(" / ")
                ),
            );
        }
    };
    only(is, s.outer.is_some(), "outer", &["ring"]);
    only(is, s.clusters.is_some(), "clusters", &["clusters"]);
    only(is, s.phase.is_some(), "phase", &["checkerboard"]);
    only(is, s.file.is_some(), "file", &["mask"]);
    only(is, s.resample.is_some(), "resample", &["mask"]);
    only(is, s.counts.is_some(), "counts", &["rows", "columns"]);
    if s.counts.is_some() && s.sizes.is_some() {
        is.push(
            p("counts"),
            "(set together with sizes)",
            "either `sizes` or `counts`, not both",
        );
    }

    let sizes: Vec<f64> = match (&s.sizes, paper_sizes(kind)) {
        (Some(v), _) => {
            if v.is_empty() {
                is.push(p("sizes"), "[]", "at least one size");
            }
            v.clone()
        }
        (None, Some(d)) => d.to_vec(),
        (None, None) => vec![],
    };
    let check_sizes = |is: &mut Issues, lo: f64, hi: f64, lo_open: bool| {
        for (i, v) in sizes.iter().enumerate() {
            is.check_range(&format!("{path}.sizes[{i}]"), *v, lo, hi, lo_open);
        }
    };
    let mut shapes = Vec::new();
    match kind {
        "circle" | "circle-complement" => {
            check_sizes(is, 0.0, 1.5, true);
            for &r in &sizes {
                let shape = if kind == "circle" {
                    Shape::Circle { r, center }
                } else {
                    Shape::CircleComplement { r, center }
                };
                shapes.push(SizedShape {
                    shape,
                    size: Some(r),
                });
            }
        }
        "ring" => {
            let outer = s.outer.unwrap_or(0.5);
            is.check_range(&p("outer"), outer, 0.0, 1.5, true);
            check_sizes(is, 0.0, 1.5, false);
            for (i, &inner) in sizes.iter().enumerate() {
                if inner >= outer {
                    is.push(
                        format!("{path}.sizes[{i}]"),
                        fmt_f64(inner),
                        format!("an inner radius below outer = {}", fmt_f64(outer)),
                    );
                }
                shapes.push(SizedShape {
                    shape: Shape::Ring {
                        inner,
                        outer,
                        center,
                    },
                    size: Some(inner),
                });
            }
        }
        "rows" | "columns" => {
            let make = |size: LineSize| {
                if kind == "rows" {
                    Shape::Rows { size, center }
                } else {
                    Shape::Columns { size, center }
                }
            };
            if let Some(counts) = &s.counts {
                if counts.is_empty() {
                    is.push(p("counts"), "[]", "at least one count");
                }
                for (i, &c) in counts.iter().enumerate() {
                    if c == 0 {
                        is.push(format!("{path}.counts[{i}]"), c, "a count >= 1");
                    }
                    shapes.push(SizedShape {
                        shape: make(LineSize::Count(c)),
                        size: Some(f64::from(c)),
                    });
                }
            } else {
                check_sizes(is, 0.0, 1.0, true);
                for &f in &sizes {
                    shapes.push(SizedShape {
                        shape: make(LineSize::Fraction(f)),
                        size: Some(f),
                    });
                }
            }
        }
        "checkerboard" => {
            if s.sizes.is_some() {
                is.push(
                    p("sizes"),
                    "(set)",
                    "nothing: checkerboard has a fixed pattern",
                );
            }
            let phase = s.phase.unwrap_or(0);
            if phase > 1 {
                is.push(p("phase"), phase, "0 or 1");
            }
            shapes.push(SizedShape {
                shape: Shape::Checkerboard { phase },
                size: None,
            });
        }
        "random" => {
            check_sizes(is, 0.0, 1.0, false);
            for &q in &sizes {
                shapes.push(SizedShape {
                    shape: Shape::Random { p: q },
                    size: Some(q),
                });
            }
        }
        "clusters" => {
            check_sizes(is, 0.0, 1.0, true);
            let count = s.clusters.unwrap_or(3);
            if count == 0 || count > 10_000 {
                is.push(p("clusters"), count, "an integer in [1, 10000]");
            }
            for &r in &sizes {
                shapes.push(SizedShape {
                    shape: Shape::Clusters { count, radius: r },
                    size: Some(r),
                });
            }
        }
        "mask" => {
            if s.sizes.is_some() {
                is.push(
                    p("sizes"),
                    "(set)",
                    "nothing: a mask file has no size parameter",
                );
            }
            match &s.file {
                None => is.push(p("file"), "(missing)", "a .csv or .png mask file"),
                Some(f) => {
                    let path: PathBuf = base.join(f);
                    match read_mask_file(&path, s.resample.unwrap_or(false)) {
                        Ok(m) => shapes.push(SizedShape {
                            shape: Shape::File(Arc::new(m)),
                            size: None,
                        }),
                        Err(e) => is.push(
                            p("file"),
                            format!("{f:?}"),
                            format!("a readable .csv or .png mask ({e})"),
                        ),
                    }
                }
            }
        }
        other => is.push(p("shape"), format!("{other:?}"), format!("one of {SHAPES}")),
    }

    let layer_sets: Vec<Vec<usize>> = match (&s.layers, &s.layer_sets) {
        (Some(_), Some(_)) => {
            is.push(
                p("layer-sets"),
                "(set together with layers)",
                "either `layers` or `layer-sets`, not both",
            );
            vec![]
        }
        (Some(l), None) => l.iter().map(|&x| vec![x as usize]).collect(),
        (None, Some(sets)) => sets
            .iter()
            .map(|s| s.iter().map(|&x| x as usize).collect())
            .collect(),
        (None, None) => (0..n_layers).map(|l| vec![l]).collect(),
    };
    if layer_sets.is_empty() && (s.layers.is_some() || s.layer_sets.is_some()) {
        is.push(p("layers"), "[]", "at least one layer");
    }
    for (i, set) in layer_sets.iter().enumerate() {
        if set.is_empty() {
            is.push(
                format!("{path}.layer-sets[{i}]"),
                "[]",
                "at least one layer",
            );
        }
        for &l in set {
            if l >= n_layers {
                let key = if s.layers.is_some() {
                    format!("{path}.layers[{i}]")
                } else {
                    format!("{path}.layer-sets[{i}]")
                };
                is.push(
                    key,
                    l,
                    format!(
                        "a layer index in 0..={} (the network has {n_layers} arrays)",
                        n_layers - 1
                    ),
                );
            }
        }
    }
    let p_on = s.p_on.unwrap_or(0.5);
    is.check_range(&p("p-on"), p_on, 0.0, 1.0, false);
    let mut states = Vec::new();
    for st in s.states.clone().unwrap_or_else(|| vec![StateName::Off]) {
        states.push(match st {
            StateName::Off => StuckState::Off,
            StateName::On => StuckState::On,
            StateName::Mixed => StuckState::Mixed { p_on },
        });
    }
    if s.states.as_ref().is_some_and(Vec::is_empty) {
        is.push(p("states"), "[]", "at least one stuck state");
    }
    let level = s.level.unwrap_or(FaultLevel::Pair);
    let repeats = s.repeats.unwrap_or(1);
    if repeats == 0 || repeats > 10_000 {
        is.push(p("repeats"), repeats, "an integer in [1, 10000]");
    }
    let label = match &s.label {
        Some(l) => {
            if l.trim().is_empty() || l.len() > 80 {
                is.push(p("label"), format!("{l:?}"), "1-80 characters");
            }
            l.clone()
        }
        None if center != Center::MIDDLE => format!("{kind} @ ({}, {})", center.row, center.col),
        None => kind.to_string(),
    };
    if is.len() > before {
        return None;
    }
    Some(Sweep {
        kind: kind.to_string(),
        label,
        shapes,
        layer_sets,
        states,
        level,
        placement: s.placement.unwrap_or_default(),
        repeats,
    })
}

/// A TOML error of `src` (from `file`) with its line and column.
fn parse_error(e: &toml::de::Error, file: &str, src: &str) -> ExperimentError {
    let (line, column) = e.span().map(|s| line_col(src, s.start)).unwrap_or((0, 0));
    ExperimentError::Parse {
        file: file.to_string(),
        line,
        column,
        message: e.message().trim().to_string(),
    }
}

/// Sets `key.path=value` in a parsed TOML document (see [`Experiment::load`]).
fn apply_override(root: &mut toml::Table, text: &str) -> Result<(), String> {
    let (path, value) = text
        .split_once('=')
        .ok_or_else(|| "expected key=value, e.g. seed=3 or device.card=hfox-linear".to_string())?;
    let (path, value) = (path.trim(), value.trim());
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let keys: Vec<&str> = path.split('.').collect();
    if keys.iter().any(|k| k.trim().is_empty()) {
        return Err(format!(
            "key {path:?}: expected a dotted key path such as network.epochs"
        ));
    }
    let mut root_value = toml::Value::Table(std::mem::take(root));
    let result = set_path(&mut root_value, &keys, 0, parsed);
    if let toml::Value::Table(t) = root_value {
        *root = t;
    }
    result
}

fn set_path(
    node: &mut toml::Value,
    keys: &[&str],
    d: usize,
    value: toml::Value,
) -> Result<(), String> {
    let here = keys[..=d].join(".");
    let last = d + 1 == keys.len();
    let child = match node {
        toml::Value::Table(t) => {
            if last {
                t.insert(keys[d].to_string(), value);
                return Ok(());
            }
            t.entry(keys[d].to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        }
        toml::Value::Array(a) => {
            let n = a.len();
            match keys[d].parse::<usize>() {
                Ok(i) if i < n => {
                    if last {
                        a[i] = value;
                        return Ok(());
                    }
                    &mut a[i]
                }
                _ => {
                    return Err(format!(
                        "key {here}: {:?} is not an index of this array of {n} element(s): expected an integer in [0, {}]",
                        keys[d],
                        n.saturating_sub(1)
                    ));
                }
            }
        }
        _ => {
            return Err(format!(
                "key {}: holds a value, not a table, so {here} cannot be set",
                keys[..d].join(".")
            ));
        }
    };
    set_path(child, keys, d + 1, value)
}
