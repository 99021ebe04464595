//! The experiment file as written: serde structs that mirror the TOML one to one.
//!
//! Every table denies unknown keys and uses kebab-case. Units are in the key names or the doc
//! comments; defaults are stated on each field and applied by [`crate::Experiment`] validation.

use serde::{Deserialize, Serialize};

/// A whole experiment file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawExperiment {
    /// Name of the study; results go to `results/<name>/`. Letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// Free text shown in the summary.
    #[serde(default)]
    pub description: String,
    /// Experiment seed (u64): every random stream derives from it and the scenario's
    /// coordinates. Default 2025.
    pub seed: Option<u64>,
    /// The ReRAM cell.
    #[serde(default)]
    pub device: RawDevice,
    /// The software network and its training.
    #[serde(default)]
    pub network: RawNetwork,
    /// Array periphery and mapping.
    #[serde(default)]
    pub circuit: RawCircuit,
    /// Defect sweeps: each `[[sweep]]` table adds shape x size x layer x state x repeat
    /// scenarios.
    #[serde(default)]
    pub sweep: Vec<RawSweep>,
    /// Optional MLP post-correction study on the sweep's circuit samples.
    pub correction: Option<RawCorrection>,
    /// Optional error-detection study: codes applied to each scenario's defective array.
    pub detection: Option<RawDetection>,
}

/// `[detection]`: apply checking codes (xbar-ecc) to the array each scenario injects, and
/// measure detection, correction, miss and false-alarm rates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDetection {
    /// Code families to report: `rnecc` (c^T y checksum row), `lhc` (lengthened Hamming),
    /// `secded`, `wcs` (weighted checksums), `an` (AN codes). Default: all.
    pub codes: Option<Vec<String>>,
    /// Read noise at each comparator output, in V, in [0, 0.1]. Default 1e-4.
    pub sigma_read_volts: Option<f64>,
    /// Threshold as a multiple of the predicted noise, in (0, 100]. Default 4.
    pub kappa: Option<f64>,
    /// Number of images used as input vectors (the first ones), in [1, 1797]. Default 1797.
    pub images: Option<u32>,
    /// Also show what output-side codes cannot see: faults on an input line (DAC). Default false.
    pub input_faults: Option<bool>,
}

/// `[correction]`: train small MLPs on the faulty circuits' output voltages (Sawal & Wong 2025,
/// section IV) and measure the accuracy they win back.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCorrection {
    /// Hidden widths of each corrector, e.g. `[[10, 10], [6]]`. Default: the paper's Table II
    /// plus (4, 4) (12 architectures).
    pub architectures: Option<Vec<Vec<u32>>>,
    /// `paper` (pooled samples, the paper's split) and/or `by-image` (test images unseen by
    /// both networks). Default both.
    pub protocols: Option<Vec<String>>,
    /// Train on each defect type and test on every type (true) or on its own type only
    /// (false). Default true.
    pub cross: Option<bool>,
    /// Training epochs per corrector, in [1, 10000]. Default 40.
    pub epochs: Option<u32>,
    /// Mini-batch size, >= 1. Default 64.
    pub batch_size: Option<u32>,
    /// Adam learning rate, in (0, 1]. Default 3e-3.
    pub learning_rate: Option<f64>,
    /// L2 weight decay, in [0, 1]. Default 1e-5.
    pub l2: Option<f64>,
    /// Seed of corrector initialisation, shuffles and the paper split. Default 0.
    pub seed: Option<u64>,
    /// Paper protocol: samples held out per configuration block. Default 1000.
    pub holdout: Option<u32>,
    /// Paper protocol: share of the rest used for training, in (0, 1). Default 0.8.
    pub train_fraction: Option<f64>,
    /// Also write every circuit sample (voltages, label, configuration, image) to
    /// `samples.csv`. Default false.
    pub export_samples: Option<bool>,
}

/// `[device]`: the cell model and its programming non-idealities.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDevice {
    /// Built-in card name (`hfox-stanford`, `hfox-linear`) or a path to a card, relative to
    /// the experiment file. Default `hfox-stanford`.
    pub card: Option<String>,
    /// Override of the card's read law: `sinh` or `linear`.
    pub iv: Option<String>,
    /// Gap variability: standard deviation of a Gaussian gap offset, in nm, in [0, 1].
    /// Default 0 (ideal). sigma_lnG = sigma-gap-nm / g0-nm.
    pub sigma_gap_nm: Option<f64>,
    /// Conductance quantisation: number of evenly spaced levels, 0 = continuous (default).
    pub levels: Option<u32>,
}

/// `[network]`: dataset, architecture and training of the software network.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawNetwork {
    /// Dataset: only `digits` (the embedded UCI 8x8 digits, 1797 images) for now.
    pub dataset: Option<String>,
    /// Hidden layer widths. Default `[50, 20, 8]` (the 64-50-20-8-10 network).
    pub hidden: Option<Vec<u32>>,
    /// Number of test images held out (stratified). Default 180, in [10, n - 10].
    pub test_size: Option<u32>,
    /// Seed of the train/test split. Default 0.
    pub split_seed: Option<u64>,
    /// Training epochs. Default from the nn crate's digits defaults.
    pub epochs: Option<u32>,
    /// Mini-batch size.
    pub batch_size: Option<u32>,
    /// Adam learning rate.
    pub learning_rate: Option<f64>,
    /// L2 weight decay.
    pub l2: Option<f64>,
    /// Seed of initialisation and shuffling.
    pub train_seed: Option<u64>,
}

/// `[circuit]`: mapping and periphery shared by every array.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCircuit {
    /// Row voltage of a full-scale input, in V, in (0, 1]. Default 0.1.
    pub v_in_max: Option<f64>,
    /// Bias-row voltage, in V, in (0, 1]. Default: v-in-max.
    pub v_bias: Option<f64>,
    /// Conductance encoding weight 0, in S. Default: the device's G_min.
    pub g_zero_siemens: Option<f64>,
    /// `"calibrated"` (default), `"unity"`, or one transimpedance per layer in ohms.
    pub r_load: Option<RawRLoad>,
    /// Output rail in V (hidden outputs clamp to [0, rail]). Default: none.
    pub rail_volts: Option<f64>,
    /// `offset` (default) or `balanced`.
    pub mapping: Option<String>,
}

/// `r-load`: a mode name or explicit values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawRLoad {
    /// `"calibrated"` or `"unity"`.
    Mode(String),
    /// Ohms per layer.
    Ohms(Vec<f64>),
}

/// One `[[sweep]]` table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawSweep {
    /// Defect shape: circle, ring, circle-complement, rows, columns, checkerboard, random,
    /// clusters, mask.
    pub shape: String,
    /// Name of this sweep in plots and tables. Default: the shape, plus the centre when it is
    /// not the middle (e.g. `circle @ (0.2, 0.8)`).
    pub label: Option<String>,
    /// Size parameter values; default: the paper's sizes for the shape. circle: radius r;
    /// ring: inner radius; circle-complement: radius of the working core (all as fractions of
    /// the smaller array side); rows/columns: fraction of the lines; random: probability per
    /// cell; clusters: disc radius.
    pub sizes: Option<Vec<f64>>,
    /// rows/columns only: explicit line counts instead of `sizes`.
    pub counts: Option<Vec<u32>>,
    /// ring only: outer radius, default 0.5.
    pub outer: Option<f64>,
    /// Centre as [row, column] fractions of the array, default [0.5, 0.5].
    pub center: Option<[f64; 2]>,
    /// clusters only: number of discs, default 3.
    pub clusters: Option<u32>,
    /// checkerboard only: 0 or 1, default 0.
    pub phase: Option<u8>,
    /// mask only: CSV or PNG file (relative to the experiment file).
    pub file: Option<String>,
    /// mask only: nearest-neighbour resample to each array's size. Default false.
    pub resample: Option<bool>,
    /// Layers to inject into, one scenario per layer. Default: every layer.
    pub layers: Option<Vec<u32>>,
    /// Alternative to `layers`: sets of layers injected together, e.g. [[0, 3]].
    pub layer_sets: Option<Vec<Vec<u32>>>,
    /// Stuck states: `off`, `on`, `mixed`. Default ["off"].
    pub states: Option<Vec<String>>,
    /// Probability of stuck-on for `mixed`, in [0, 1]. Default 0.5.
    pub p_on: Option<f64>,
    /// `pair` (default, both devices stuck) or `device` (one device of the pair).
    pub level: Option<String>,
    /// Repetitions with independent random streams. Default 1.
    pub repeats: Option<u32>,
}
