//! The experiment file as written: serde structs that mirror the TOML one to one.
//!
//! Every table denies unknown keys and uses kebab-case. Units are in the key names or the doc
//! comments; defaults are stated on each field and applied by [`crate::Experiment`] validation.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use xbar_crossbar::chip::Placement;
use xbar_crossbar::{FaultLevel, Mapping};
use xbar_device::IvModel;

use crate::{DatasetKind, RepairDecoder};

/// `[[sweep]] shape`: the defect geometries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ShapeKind {
    /// A filled disc.
    #[default]
    Circle,
    /// An annulus.
    Ring,
    /// Everything outside a disc.
    CircleComplement,
    /// Whole rows.
    Rows,
    /// Whole columns.
    Columns,
    /// Cells with (row + column) of one parity.
    Checkerboard,
    /// Independent cells with a probability each.
    Random,
    /// Random discs.
    Clusters,
    /// A mask read from a CSV or PNG file.
    Mask,
}

impl ShapeKind {
    /// The name as written in files.
    pub fn name(self) -> &'static str {
        match self {
            ShapeKind::Circle => "circle",
            ShapeKind::Ring => "ring",
            ShapeKind::CircleComplement => "circle-complement",
            ShapeKind::Rows => "rows",
            ShapeKind::Columns => "columns",
            ShapeKind::Checkerboard => "checkerboard",
            ShapeKind::Random => "random",
            ShapeKind::Clusters => "clusters",
            ShapeKind::Mask => "mask",
        }
    }
}

/// `[[sweep]] states`: the stuck state of the cells under a mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StateName {
    /// Stuck at the high-resistance state.
    Off,
    /// Stuck at the low-resistance state.
    On,
    /// Each cell on with probability `p-on`, else off.
    Mixed,
}

/// `[correction] protocols`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProtocolName {
    /// Pooled samples, the paper's split.
    Paper,
    /// Test images unseen by both networks.
    ByImage,
}

/// `[detection] codes`: the code families of xbar-ecc.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CodeFamily {
    /// Real-number code: a c^T y checksum row.
    Rnecc,
    /// Lengthened Hamming code.
    Lhc,
    /// SEC-DED Hamming code.
    Secded,
    /// Weighted checksums.
    Wcs,
    /// AN arithmetic codes.
    An,
}

impl CodeFamily {
    /// Every family, in report order.
    pub const ALL: [CodeFamily; 5] = [
        CodeFamily::Rnecc,
        CodeFamily::Lhc,
        CodeFamily::Secded,
        CodeFamily::Wcs,
        CodeFamily::An,
    ];

    /// The name as written in files and result rows.
    pub fn name(self) -> &'static str {
        match self {
            CodeFamily::Rnecc => "rnecc",
            CodeFamily::Lhc => "lhc",
            CodeFamily::Secded => "secded",
            CodeFamily::Wcs => "wcs",
            CodeFamily::An => "an",
        }
    }
}

/// A whole experiment file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawExperiment {
    /// Name of the study; results go to `results/<name>/`. Letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// Free text shown in the summary. Default empty.
    #[serde(default)]
    pub description: String,
    /// Experiment seed (u64): every random stream derives from it and the scenario's
    /// coordinates. Default 2025.
    pub seed: Option<u64>,
    /// The ReRAM cell.
    #[serde(default)]
    pub device: RawDevice,
    /// The software network and its training (or an imported model: `onnx`).
    #[serde(default)]
    pub network: RawNetwork,
    /// The user's data: for an imported network (`network.onnx` / `network.npz`), or, without
    /// one, to train the in-tool MLP on (its training split; tested on its test split).
    /// Default: none (the embedded digits).
    pub dataset: Option<RawDataset>,
    /// Array periphery and mapping.
    #[serde(default)]
    pub circuit: RawCircuit,
    /// Interconnect resistance (IR drop), solved by nodal analysis. Default: ideal wires.
    pub wires: Option<RawWires>,
    /// Files for other tools, written as NumPy `.npz` under `exports/`: `conductances`,
    /// `masks`, `predictions`, `split`. Default: none.
    pub export: Option<Vec<crate::Export>>,
    /// Physical arrays: every layer is split into tiles of this size and placed on a die.
    /// Default: none (each layer is one array of its own size).
    pub chip: Option<RawChip>,
    /// Defect sweeps: each `[[sweep]]` table adds shape x size x layer x state x repeat
    /// scenarios. At least one is needed.
    #[serde(default)]
    pub sweep: Vec<RawSweep>,
    /// Optional MLP post-correction study on the sweep's circuit samples.
    pub correction: Option<RawCorrection>,
    /// Optional error-detection study: codes applied to each scenario's defective array.
    pub detection: Option<RawDetection>,
    /// Standalone study (no `[[sweep]]`): L1 decoding success versus the number of Gaussian
    /// checks (Li et al., Fig. 2). Default: none.
    pub phase_transition: Option<RawPhaseTransition>,
    /// Standalone study (no `[[sweep]]`): the 784-256-10 MNIST network with a real-number
    /// code on its first layer, weight and datapath errors, accuracy with and without L1
    /// correction (Li et al., Fig. 1). Default: none.
    pub mnist_repair: Option<RawMnistRepair>,
    /// Study on top of the sweep: each scenario's injected array carries a real-number code;
    /// its stuck pairs are repaired by L1 decoding (blind) and by erasure decoding (known
    /// defect map). Default: none.
    pub crossbar_repair: Option<RawCrossbarRepair>,
}

/// `[phase-transition]`: how many Gaussian checks L1 decoding needs (Li et al., Fig. 2;
/// `reference/ecc-math.md` A.7). For every number of unknowns `N` and checks `K`, `trials`
/// instances draw `M` (`K x N`, i.i.d. `N(0, 1/K)`) and an `s`-sparse error with `N(0, 1)`
/// values, decode the syndrome and count successes
/// (`||e_hat - e||_2 <= 1e-4 max(1, ||e||_2)`). A file with this table has no `[[sweep]]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawPhaseTransition {
    /// Numbers of unknowns `N` (e.g. 3584 = one 256x14 code group), each in [10, 100000],
    /// distinct. Default [3584, 10000].
    pub unknowns: Option<Vec<u32>>,
    /// Nonzero errors `s` per instance, in [1, smallest N - 1]. Default 100 (the paper's).
    pub errors: Option<u32>,
    /// Numbers of checks `K` (rows of `M`), each in [1, smallest N], distinct; `K x N` is at
    /// most 5e7 (400 MB per worker). Default 100, 200, ..., 1000 (the paper's range), unless
    /// `offsets` is set.
    pub constraints: Option<Vec<u32>>,
    /// Instead of `constraints`: checks relative to the prediction, `K = round(D(s, N)) +
    /// offset` for each `N`, so that every `N` is sampled across its own transition. Each
    /// offset in [-100000, 100000], distinct; every resulting `K` in [1, N]. Default: none.
    pub offsets: Option<Vec<i32>>,
    /// Instances per (N, K) point, in [1, 100000]. Default 100 (the paper's).
    pub trials: Option<u32>,
    /// Decoder: `l1` (the exact basis-pursuit solution, by the L1 homotopy run to the end),
    /// `omp` (orthogonal matching pursuit), `cascade` (single error, OMP, homotopy with early
    /// exit), `clarabel` (the LP, seconds per instance). Default `l1`.
    pub decoder: Option<RepairDecoder>,
}

/// `[mnist-repair]`: the paper's MNIST experiment (Li et al., section V-A, Fig. 1). Trains
/// (or loads from the cache) the 784-256-10 network, codes its first layer (`W`, 784 inputs x
/// 256 outputs, biases not coded) in groups of input columns, injects weight errors and a
/// sparse datapath error per image, and measures test accuracy without and with correction.
/// A file with this table has no `[[sweep]]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawMnistRepair {
    /// Folder with the four MNIST `.gz` files, relative to the experiment file. Default: the
    /// first `data/mnist` found in the experiment file's folder or one of its ancestors.
    pub mnist_dir: Option<String>,
    /// Training images used (the first ones), in [100, 60000]. Default 60000.
    pub train_images: Option<u32>,
    /// Test images classified (the first ones), in [100, 10000]. Default 10000.
    pub test_images: Option<u32>,
    /// Training epochs (Adam), in [1, 1000]. Default 8.
    pub epochs: Option<u32>,
    /// Mini-batch size, in [1, 60000]. Default 128.
    pub batch_size: Option<u32>,
    /// Adam learning rate, in (0, 1]. Default 1e-3.
    pub learning_rate: Option<f64>,
    /// L2 weight decay, in [0, 1]. Default 1e-4.
    pub l2: Option<f64>,
    /// Seed of initialisation and shuffles. Default 0.
    pub train_seed: Option<u64>,
    /// Input columns of `W` per code group, in [1, 784]. Default 14 (56 groups of 256 x 14 =
    /// 3584 weights, the paper's).
    pub group_inputs: Option<u32>,
    /// Weight errors per group the code is sized for: `K = ceil(D(s, N_g) + 0.5 sqrt(N_g))`
    /// Gaussian checks per group, and the decoders' design bound. In [1, 200]. Default 10
    /// (K = 110 for 3584 weights).
    pub design_errors: Option<u32>,
    /// Explicit number `K` of Gaussian (type-1) checks per group, in [1, 10000], instead of
    /// the design rule. Default: the design rule.
    pub type1_per_group: Option<u32>,
    /// Output (type-2) checks `L`: 1 is the paper's all-ones check (the last hidden unit is
    /// minus the sum of the others), which detects a datapath error but cannot locate it;
    /// `L > 1` adds `L - 1` Gaussian checks so that sparse datapath errors can be located
    /// (about 15-20 for 2 errors on 256 outputs). In [1, 64]. Default 16.
    pub output_checks: Option<u32>,
    /// Projected fine-tuning epochs after coding (Adam, all layers, the coded layer kept on
    /// the code), in [0, 100]. Default 0 (projection only, as the paper).
    pub finetune_epochs: Option<u32>,
    /// Fine-tuning learning rate, in (0, 1]. Default 1e-4.
    pub finetune_learning_rate: Option<f64>,
    /// Total weight errors per level, spread uniformly at random over the 200,704 weights of
    /// `W`, each in [0, 200704]. Default [70, 140, 210, 280, 350, 420] (the paper's range).
    pub errors: Option<Vec<u32>>,
    /// Standard deviation of the weight error values (added to the weight), in weight units,
    /// in (0, 100]. Default 5.0 (about 100 times the RMS and 10 times the largest weight of
    /// the trained layer; N(0, 1) errors barely move the accuracy).
    pub error_std: Option<f64>,
    /// Independent trials per level, in [1, 1000]. Default 10 (the paper's).
    pub trials: Option<u32>,
    /// Nonzero datapath errors per image on the 256 pre-activations, in [0, 256]. Default 2
    /// (the paper's).
    pub datapath_errors: Option<u32>,
    /// Standard deviation of the datapath error values, in pre-activation units, in
    /// (0, 100]. Default 5.0.
    pub datapath_std: Option<f64>,
    /// Memory-error decoder per group: `cascade` (single error, OMP, L1 homotopy), `l1` (the
    /// homotopy alone), `omp`, `clarabel` (the cascade, then the LP; seconds per group).
    /// Default `cascade`.
    pub decoder: Option<RepairDecoder>,
}

/// `[crossbar-repair]`: real-number code on each scenario's injected array of the digits
/// network, L1 repair of its stuck pairs. Used with `[[sweep]]` tables (single layers, ideal
/// wires, no variability). The stuck cells cannot be re-written: the repair is a digital
/// sparse term subtracted after the array (`y -= E_hat x`), equivalent to computing with
/// `W~ - E_hat`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCrossbarRepair {
    /// Array rows (inputs, bias row included) per code group, in [1, 4096]. Default 13 (five
    /// groups of 13 x 50 = 650 pairs on the 65 x 50 first array).
    pub group_rows: Option<u32>,
    /// Stuck pairs per group the code is sized for: `K = ceil(D(s, N_g) + 0.5 sqrt(N_g))`
    /// Gaussian checks per group (`N_g` = group rows x columns), and the decoder's design
    /// bound. In [1, 1000]. Default 8 (K = 60 on the first array).
    pub design_errors: Option<u32>,
    /// Projected fine-tuning epochs of each coded network, in [0, 1000]. Default 10.
    pub finetune_epochs: Option<u32>,
    /// Blind decoder: `cascade` (single error, OMP, L1 homotopy), `l1`, `omp`, `clarabel`
    /// (the cascade, then the LP). Default `cascade`.
    pub decoder: Option<RepairDecoder>,
}

/// `[detection]`: apply checking codes (xbar-ecc) to the array each scenario injects, and
/// measure detection, correction, miss and false-alarm rates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDetection {
    /// Code families to report: `rnecc` (c^T y checksum row), `lhc` (lengthened Hamming),
    /// `secded`, `wcs` (weighted checksums), `an` (AN codes). Default: all.
    pub codes: Option<Vec<CodeFamily>>,
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCorrection {
    /// Hidden widths of each corrector, e.g. `[[10, 10], [6]]`. Default: the paper's Table II
    /// plus (4, 4) (12 architectures).
    pub architectures: Option<Vec<Vec<u32>>>,
    /// `paper` (pooled samples, the paper's split) and/or `by-image` (test images unseen by
    /// both networks). Default both.
    pub protocols: Option<Vec<ProtocolName>>,
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDevice {
    /// Built-in card name (`hfox-stanford`, `hfox-linear`) or a path to a card, relative to
    /// the experiment file. Default `hfox-stanford`.
    pub card: Option<String>,
    /// Override of the card's read law: `sinh` or `linear`. Default: the card's law.
    pub iv: Option<IvModel>,
    /// Gap variability: standard deviation of a Gaussian gap offset, in nm, in [0, 1].
    /// Default 0 (ideal). sigma_lnG = sigma-gap-nm / g0-nm.
    pub sigma_gap_nm: Option<f64>,
    /// Conductance quantisation: number of evenly spaced levels, 0 = continuous (default).
    pub levels: Option<u32>,
}

/// `[network]`: dataset, architecture and training of the software network.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawNetwork {
    /// An ONNX model file (path relative to the experiment file) to study instead of the
    /// network xbar trains: Gemm/MatMul, Conv, pooling, ReLU, Flatten/Reshape,
    /// BatchNormalization (folded), Softmax. Needs a `[dataset]`; the training keys below do
    /// not apply to it. Default: none (train in-tool).
    pub onnx: Option<String>,
    /// Weights without a graph: a NumPy `.npz` file (path relative to the experiment file)
    /// whose arrays `layers` names, e.g. a PyTorch `state_dict` saved with `numpy.savez`.
    /// Needs `input`, `layers` and a `[dataset]`, as `onnx` does. Default: none.
    pub npz: Option<String>,
    /// With `npz`: the shape of one input sample, `[features]` or `[channels, height,
    /// width]`. Required with `npz`.
    pub input: Option<Vec<u64>>,
    /// With `npz`: the layers in order, each an inline table with `kind` = `dense`
    /// (`weight`, optional `bias`, `transpose = true` for PyTorch's `[out, in]` storage),
    /// `conv2d` (`weight` `[out, in, kh, kw]`, optional `bias`, `stride`, `pads`),
    /// `batch-norm` (`scale`, `bias`, `mean`, `var`, optional `epsilon`; folded into the layer
    /// before), `relu`, `max-pool` / `avg-pool` (`kernel`, optional `stride`, `pads`),
    /// `global-avg-pool` or `flatten`. Required with `npz`.
    pub layers: Option<Vec<xbar_import::LayerSpec>>,
    /// Dataset of the in-tool network: `digits` (the embedded UCI 8x8 digits, 1797 images).
    /// Default `digits`. Imported networks read `[dataset]` instead.
    pub dataset: Option<DatasetKind>,
    /// Hidden layer widths. Default `[50, 20, 8]` (the 64-50-20-8-10 network).
    pub hidden: Option<Vec<u32>>,
    /// Number of test images held out (stratified). Default 180, in [10, n - 10].
    pub test_size: Option<u32>,
    /// Seed of the train/test split. Default 0.
    pub split_seed: Option<u64>,
    /// Training epochs, in [1, 100000]. Default 80.
    pub epochs: Option<u32>,
    /// Mini-batch size, >= 1. Default 32.
    pub batch_size: Option<u32>,
    /// Adam learning rate, in (0, 10]. Default 2e-3.
    pub learning_rate: Option<f64>,
    /// L2 weight decay, in [0, 1]. Default 1e-3.
    pub l2: Option<f64>,
    /// Seed of initialisation and shuffling. Default 0.
    pub train_seed: Option<u64>,
}

/// `[dataset]`: the samples an imported network is evaluated on. Exactly one of `npz`, `idx`,
/// `csv`. Paths are relative to the experiment file. Your test set stays the test set: every
/// test sample is evaluated, nothing is re-split.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDataset {
    /// NumPy `.npz` with `x_test`, `y_test` and optionally `x_train`, `y_train` (features
    /// float or integer, `N x F`, `N x H x W` or `N x C x H x W`, uint8 divided by 255;
    /// integer labels).
    pub npz: Option<String>,
    /// IDX test files `[images, labels]`, gzip or raw (e.g. MNIST's t10k pair).
    pub idx: Option<[String; 2]>,
    /// IDX training files `[images, labels]`: calibration samples and the input range.
    pub train_idx: Option<[String; 2]>,
    /// CSV test file: one sample per row, the integer label in the last column.
    pub csv: Option<String>,
    /// CSV training file, as `csv`.
    pub train_csv: Option<String>,
    /// The input value driven at `circuit.v-in-max` (row voltage = x v-in-max / input-max).
    /// Default: the largest |x| of the training samples (of the test samples without them).
    pub input_max: Option<f64>,
    /// Evaluate only the first N test samples, in [1, test samples]. Default: all.
    pub test_limit: Option<u32>,
    /// Use only the first N training samples (for training the in-tool network, the input
    /// range and calibration), in [1, training samples]. Default: all.
    pub train_limit: Option<u32>,
    /// Samples that calibrate the comparator gains (the first N training samples, or test
    /// samples without them), >= 1. Default 2000.
    pub calibration_size: Option<u32>,
}

/// `[circuit]`: mapping and periphery shared by every array.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    pub mapping: Option<Mapping>,
    /// Open-loop gain A of the transimpedance op-amps, in [1, 1e15]; the comparator gain
    /// becomes `A/(1+A) R_load` and its input sits at `V_out/A`. Default: infinite (ideal).
    pub op_amp_gain: Option<f64>,
}

/// `[chip]`: the physical array size.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawChip {
    /// `[rows, cols]` of one physical array in devices (a differential pair takes two
    /// columns, so `cols` is even), each in [2, 65536]. Required in `[chip]`.
    pub array: Option<[u64; 2]>,
    /// Resolution in bits, in [1, 24], of an ADC on every tile output: each tile's partial
    /// output is digitised and the tiles of a row-split layer are added digitally (rectifier
    /// and rails act on the sum). Default: none (the fully analog periphery: row-split tiles
    /// sum their currents on one node).
    pub adc_bits: Option<u64>,
    /// The ADC range: `"calibrated"` (default; per layer, the largest |partial output| of
    /// any tile over the calibration images) or a value in volts in (0, 100] (levels span
    /// [-range, range]). Only with `adc-bits`.
    pub adc_range: Option<RawAdcRange>,
}

/// `adc-range`: `"calibrated"` or volts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RawAdcRange {
    /// `"calibrated"`.
    Calibrated(AdcCalibrated),
    /// Volts.
    Volts(f64),
}

/// The one named ADC range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AdcCalibrated {
    /// From the calibration images.
    Calibrated,
}

// By hand: a wrong name gets a message that says what is valid.
impl<'de> Deserialize<'de> for RawAdcRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        const EXPECTED: &str = "\"calibrated\" or a range in volts";
        impl serde::de::Visitor<'_> for V {
            type Value = RawAdcRange;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<RawAdcRange, E> {
                match s {
                    "calibrated" => Ok(RawAdcRange::Calibrated(AdcCalibrated::Calibrated)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(s), &EXPECTED)),
                }
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<RawAdcRange, E> {
                Ok(RawAdcRange::Volts(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawAdcRange, E> {
                Ok(RawAdcRange::Volts(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawAdcRange, E> {
                Ok(RawAdcRange::Volts(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}

/// `[wires]`: resistance of the row and column wires and of the periphery, in ohms. Any
/// nonzero value (or a finite op-amp gain) switches the sweep to the nodal solver.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawWires {
    /// Row wire resistance per cell segment, in ohms, in [0, 1000]. Default 0.
    pub r_row_ohms: Option<f64>,
    /// Column wire resistance per cell segment, in ohms, in [0, 1000]. Default 0.
    pub r_col_ohms: Option<f64>,
    /// Output resistance of each row driver, in ohms, in [0, 1e6]. Default 0.
    pub r_source_ohms: Option<f64>,
    /// Input resistance of each current comparator, in ohms, in [0, 1e6]. Default 0.
    pub r_in_ohms: Option<f64>,
    /// Sweep dimension: segment resistances in ohms (each in [0, 1000], distinct), applied to
    /// rows and columns alike; every `[[sweep]]` runs once per value, with the same defect
    /// draws, so accuracy differences come from the wires alone. Replaces `r-row-ohms` and
    /// `r-col-ohms`. Default: none (a single setting).
    pub segment_ohms: Option<Vec<f64>>,
}

/// `r-load`: a mode name or explicit values.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RawRLoad {
    /// `"calibrated"` or `"unity"`.
    Mode(RLoadMode),
    /// Ohms per layer.
    Ohms(Vec<f64>),
}

/// The named `r-load` modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RLoadMode {
    /// Per layer, so that the healthy layer's largest output reaches the input range.
    Calibrated,
    /// 1 ohm: outputs in amperes.
    Unity,
}

// By hand instead of `untagged`: a wrong mode name gets a message that lists the valid ones
// (an untagged enum only says that nothing matched).
impl<'de> Deserialize<'de> for RawRLoad {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        const EXPECTED: &str = "\"calibrated\", \"unity\" or a list of ohms per layer";
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawRLoad;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<RawRLoad, E> {
                match s {
                    "calibrated" => Ok(RawRLoad::Mode(RLoadMode::Calibrated)),
                    "unity" => Ok(RawRLoad::Mode(RLoadMode::Unity)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(s), &EXPECTED)),
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<RawRLoad, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element::<f64>()? {
                    v.push(x);
                }
                Ok(RawRLoad::Ohms(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// One `[[sweep]]` table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawSweep {
    /// Defect shape: circle, ring, circle-complement, rows, columns, checkerboard, random,
    /// clusters, mask.
    pub shape: ShapeKind,
    /// Name of this sweep in plots and tables. Default: the shape, plus the centre when it is
    /// not the middle (e.g. `circle @ (0.2, 0.8)`).
    pub label: Option<String>,
    /// Size parameter values; default: the paper's sizes for the shape. circle: radius r;
    /// ring: inner radius; circle-complement: radius of the working core (all as fractions of
    /// the smaller array side); rows/columns: fraction of the lines; random: probability per
    /// cell; clusters: disc radius.
    pub sizes: Option<Vec<f64>>,
    /// rows/columns only: explicit line counts instead of `sizes`. Default: none (use
    /// `sizes`).
    pub counts: Option<Vec<u32>>,
    /// ring only: outer radius, default 0.5.
    pub outer: Option<f64>,
    /// Centre as [row, column] fractions of the array, default [0.5, 0.5].
    pub center: Option<[f64; 2]>,
    /// clusters only: number of discs, default 3.
    pub clusters: Option<u32>,
    /// checkerboard only: 0 or 1, default 0.
    pub phase: Option<u8>,
    /// mask only (and required there): CSV (0/1 cells) or PNG (dark = defective) file,
    /// relative to the experiment file. Default: none.
    pub file: Option<String>,
    /// mask only: nearest-neighbour resample to each array's size. Default false.
    pub resample: Option<bool>,
    /// Layers to inject into, one scenario per layer. Default: every layer.
    pub layers: Option<Vec<u32>>,
    /// Alternative to `layers`: sets of layers injected together, e.g. [[0, 3]]. Default:
    /// none (use `layers`).
    pub layer_sets: Option<Vec<Vec<u32>>>,
    /// Stuck states: `off`, `on`, `mixed`. Default ["off"].
    pub states: Option<Vec<StateName>>,
    /// Probability of stuck-on for `mixed`, in [0, 1]. Default 0.5.
    pub p_on: Option<f64>,
    /// `pair` (default, both devices stuck) or `device` (one device of the pair).
    pub level: Option<FaultLevel>,
    /// Where the shape is drawn: `layer` (default: on each layer's logical array), `tile`
    /// (on one physical array, repeated on every tile of each layer) or `die` (once across
    /// the whole tile grid). `tile` and `die` need a `[chip]`.
    pub placement: Option<Placement>,
    /// Repetitions with independent random streams. Default 1.
    pub repeats: Option<u32>,
}
