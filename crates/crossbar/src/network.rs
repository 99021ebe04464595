//! Weight mapping, the analog layer model and the whole analog network.

use faer::{Accum, Mat, MatMut, MatRef, Par};
use rand::Rng;
use serde::{Deserialize, Serialize};
use xbar_device::{DeviceParams, Issues, Variability};
use xbar_nn::graph::{Layer, Network, Shape, Windows};

use crate::chip::Chip;
use crate::{CrossbarError, LayerFaults};

/// How the transimpedance gain `R_load` of each layer's current comparators is chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RLoad {
    /// Calibrated on a calibration batch (the training images) so that the largest output of
    /// each layer equals `v_in_max`: keeps every voltage in the near-linear part of the sinh
    /// and far below the ~1 V switching threshold.
    Calibrated,
    /// `R_load = 1/k` per layer: unity gain from software units to volts.
    Unity,
    /// Explicit values in ohms, one per layer.
    Ohms(Vec<f64>),
}

/// How signed weights become pairs of conductances.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Mapping {
    /// `G+ = Gzero + max(w,0) k`, `G- = Gzero + max(-w,0) k` (PytorX-style, default).
    #[default]
    Offset,
    /// Both devices around a mid conductance: `G± = Gmid ± w k / 2`, `Gmid = (Gzero + Gmax)/2`.
    Balanced,
}

/// An analog-to-digital converter on every tile output: the partial output of each physical
/// array (its rows' share of a layer's column current, times `R_load`) is digitised, the
/// partial values of a row-split layer are added digitally, and the rectifier and rails act on
/// the digital sum, which a DAC drives onto the next layer's rows. Without it (the default)
/// row-split tiles sum their currents in analog on one node and nothing is digitised.
///
/// The converter is uniform with `2^bits` levels spanning `[-range, range]` (the endpoints
/// included); inputs beyond the range clip to it.
///
/// ```
/// use xbar_crossbar::{Adc, AdcRange};
/// let adc = Adc { bits: 2, range: AdcRange::Volts(0.3) };
/// assert!(adc.validate().is_ok());
/// // Four levels: -0.3, -0.1, 0.1, 0.3.
/// let q = |v| xbar_crossbar::AdcStage { bits: 2, range: 0.3, block_rows: 4 }.quantize(v);
/// assert!((q(0.05) - 0.1).abs() < 1e-15 && (q(-1.0) + 0.3).abs() < 1e-15);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Adc {
    /// Resolution in bits, in [1, 24].
    pub bits: u32,
    /// The full-scale range.
    pub range: AdcRange,
}

/// How an [`Adc`]'s full-scale range is set.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AdcRange {
    /// Per layer, the largest |partial output| of any tile over the calibration batch (the
    /// healthy circuit), as CrossSim's CALIBRATED option: no clipping on the calibration data.
    Calibrated,
    /// The same range for every layer, in V.
    Volts(f64),
}

impl Adc {
    /// Checks `bits` in [1, 24] and an explicit range in (0, 100] V.
    ///
    /// # Errors
    /// The problems found, keyed `adc-bits` and `adc-range`.
    pub fn validate(&self) -> Result<(), Issues> {
        let mut i = Issues::default();
        if !(1..=24).contains(&self.bits) {
            i.push("adc-bits", self.bits, "an integer in [1, 24]");
        }
        if let AdcRange::Volts(v) = self.range {
            i.check_range("adc-range", v, 0.0, 100.0, true);
        }
        i.into_result()
    }
}

/// A programmed layer's converters: resolution, range in volts and the rows each tile holds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdcStage {
    /// Resolution in bits.
    pub bits: u32,
    /// Full-scale range in V (levels span `[-range, range]`).
    pub range: f64,
    /// Array rows per tile (the last tile of a layer may hold fewer; the bias row is in it).
    pub block_rows: usize,
}

impl AdcStage {
    /// The converter's output for input `v` volts: the nearest of `2^bits` uniform levels on
    /// `[-range, range]`.
    #[inline]
    pub fn quantize(&self, v: f64) -> f64 {
        let step = 2.0 * self.range / ((1u64 << self.bits) - 1) as f64;
        let c = v.clamp(-self.range, self.range) + self.range;
        ((c / step).round() * step - self.range).clamp(-self.range, self.range)
    }
}

/// Circuit settings shared by every array of the network.
///
/// ```
/// let c = xbar_crossbar::CircuitConfig::default();
/// assert_eq!(c.v_in_max, 0.1);
/// assert!(c.validate(4).is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CircuitConfig {
    /// Row voltage of a full-scale input, in V. Default 0.1 V.
    pub v_in_max: f64,
    /// The software input value driven at `v_in_max` (inputs scale linearly, so
    /// `V = x v_in_max / input_max`). Default 1 (inputs in `[0, 1]`, as the digits pixels /16).
    #[serde(default = "one")]
    pub input_max: f64,
    /// Voltage on the bias row, in V. Default: `v_in_max`.
    pub v_bias: f64,
    /// Conductance that encodes weight 0, in S. `None`: the device's `G_min`.
    pub g_zero: Option<f64>,
    /// Weight mapped to full scale per layer. `None`: `max |W|` of the layer, bias row included.
    pub w_scale: Option<Vec<f64>>,
    /// Comparator gains.
    pub r_load: RLoad,
    /// Output rail in V: hidden outputs are clamped to `[0, rail]`, the last layer to
    /// `[-rail, rail]`. `None`: no rail.
    pub rail: Option<f64>,
    /// Pair mapping.
    pub mapping: Mapping,
    /// Physical arrays: every layer is split into tiles of this size (row-split tiles sum
    /// their currents on one node unless `adc` digitises them; the wire solver solves each
    /// tile on its own). `None`: every layer is one array of its own size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chip: Option<Chip>,
    /// An ADC on every tile output (needs `chip` for the tile size; without one, every
    /// layer is one tile). `None`: the fully analog periphery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adc: Option<Adc>,
}

fn one() -> f64 {
    1.0
}

impl Default for CircuitConfig {
    fn default() -> Self {
        Self {
            v_in_max: 0.1,
            input_max: 1.0,
            v_bias: 0.1,
            g_zero: None,
            w_scale: None,
            r_load: RLoad::Calibrated,
            rail: None,
            mapping: Mapping::Offset,
            chip: None,
            adc: None,
        }
    }
}

impl CircuitConfig {
    /// Checks every value against a network with `layers` arrays.
    pub fn validate(&self, layers: usize) -> Result<(), Issues> {
        let mut i = Issues::default();
        i.check_range("v-in-max", self.v_in_max, 0.0, 1.0, true);
        i.check_range("input-max", self.input_max, 0.0, 1e12, true);
        i.check_range("v-bias", self.v_bias, 0.0, 1.0, true);
        if let Some(g) = self.g_zero {
            i.check_range("g-zero-siemens", g, 0.0, 1.0, false);
        }
        if let Some(w) = &self.w_scale {
            if w.len() != layers {
                i.push(
                    "w-scale",
                    format!("{} values", w.len()),
                    format!("one value per layer ({layers})"),
                );
            }
            for (k, v) in w.iter().enumerate() {
                i.check_positive(&format!("w-scale[{k}]"), *v);
            }
        }
        if let RLoad::Ohms(r) = &self.r_load {
            if r.len() != layers {
                i.push(
                    "r-load",
                    format!("{} values", r.len()),
                    format!("\"calibrated\", \"unity\" or one value in ohms per layer ({layers})"),
                );
            }
            for (k, v) in r.iter().enumerate() {
                i.check_range(&format!("r-load[{k}]"), *v, 0.0, 1e9, true);
            }
        }
        if let Some(r) = self.rail {
            i.check_range("rail-volts", r, 0.0, 100.0, true);
        }
        if let Some(Err(e)) = self.chip.as_ref().map(Chip::validate) {
            i.extend_prefixed("chip", e);
        }
        if let Some(Err(e)) = self.adc.as_ref().map(Adc::validate) {
            i.extend_prefixed("", e);
        }
        i.into_result()
    }
}

/// A layer's weights as the software network holds them: `y = x W + b`.
#[derive(Clone, Copy, Debug)]
pub struct SoftLayer<'a> {
    /// `in x out` weights.
    pub w: MatRef<'a, f64>,
    /// `out` biases.
    pub b: &'a [f64],
}

/// How an array's rows are driven.
#[derive(Clone, Debug, PartialEq)]
pub enum Wiring {
    /// By the previous stage's outputs, in order: a fully connected layer, one read per image.
    Dense,
    /// By the taps of a convolution window (the standard unrolled mapping: a `kh x kw x C`
    /// kernel is one column of a `(kh kw C + 1) x M` array). The array is read once per output
    /// position, and the comparator outputs of all positions form the output image.
    Conv(Windows),
}

/// A periphery step after an array's comparator and rectifier, modelled as an ideal circuit
/// on voltages: max pooling (a winner-take-all stage), average pooling (a resistive averager),
/// global average pooling, or a rectifier placed after a pooling stage.
#[derive(Clone, Debug, PartialEq)]
pub struct PostOp {
    /// The operation (a layer without weights).
    pub layer: Layer,
    /// Shape of its input.
    pub input: Shape,
    /// Shape of its output.
    pub output: Shape,
}

/// Reusable buffers of one stage ([`ProgrammedLayer::scratch`]).
#[derive(Clone, Debug)]
pub struct StageScratch {
    patches: Mat<f64>,
    raw: Mat<f64>,
    /// One tile's partial currents (layers with an ADC only).
    part: Mat<f64>,
    a: Mat<f64>,
    b: Mat<f64>,
}

/// One programmed array: `(in + 1) x out` differential pairs (bias row last).
#[derive(Clone, Debug)]
pub struct ProgrammedLayer {
    /// Conductances of the positive devices, in S, `(in+1) x out`.
    pub g_plus: Mat<f64>,
    /// Conductances of the negative devices, in S, `(in+1) x out`.
    pub g_minus: Mat<f64>,
    /// Conductance per weight unit, in S: `(Gmax - Gzero) / w_scale`.
    pub k: f64,
    /// Weight mapped to full scale.
    pub w_scale: f64,
    /// Comparator transimpedance, in ohms.
    pub r_load: f64,
    /// Nominal volts per software unit at this layer's input.
    pub input_scale: f64,
    /// Whether a rectifier follows (all but the last layer).
    pub rectify: bool,
    /// How the rows are driven (dense or convolution windows).
    pub wiring: Wiring,
    /// Periphery steps after the rectifier (pooling), in order; empty for dense networks.
    pub post: Vec<PostOp>,
    /// The converters on every tile output, when the periphery has them.
    pub adc: Option<AdcStage>,
}

impl ProgrammedLayer {
    /// Array rows (inputs + bias).
    pub fn rows(&self) -> usize {
        self.g_plus.nrows()
    }

    /// Logical columns (outputs).
    pub fn cols(&self) -> usize {
        self.g_plus.ncols()
    }

    /// Array reads per image: 1 for a dense layer, the output positions of a convolution.
    pub fn reads(&self) -> usize {
        match &self.wiring {
            Wiring::Dense => 1,
            Wiring::Conv(w) => w.positions(),
        }
    }

    /// Values per image this stage reads (the previous stage's outputs).
    pub fn input_len(&self) -> usize {
        match &self.wiring {
            Wiring::Dense => self.rows() - 1,
            Wiring::Conv(w) => w.input.0 * w.input.1 * w.input.2,
        }
    }

    /// Output voltages per image after the periphery (pooling included).
    pub fn output_len(&self) -> usize {
        self.post
            .last()
            .map_or(self.cols() * self.reads(), |p| p.output.len())
    }

    /// Whether this is a plain dense array with nothing after its rectifier (what the wire
    /// solver and the netlist writer model).
    pub fn is_dense(&self) -> bool {
        self.wiring == Wiring::Dense && self.post.is_empty()
    }

    /// Row ranges of the tiles (`[start, end)` in array rows, bias row last): one range
    /// when the layer has no ADC (the analog sum over tiles is one product).
    pub fn row_blocks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let rows = self.rows();
        let step = self.adc.map_or(rows, |a| a.block_rows.max(1));
        (0..rows.div_ceil(step)).map(move |b| (b * step, ((b + 1) * step).min(rows)))
    }

    /// Buffers for [`ProgrammedLayer::stage_into`] on up to `rows` images.
    pub fn scratch(&self, rows: usize) -> StageScratch {
        let reads = self.reads();
        let widest_post = self.post.iter().map(|p| p.output.len()).max().unwrap_or(0);
        StageScratch {
            patches: match &self.wiring {
                Wiring::Dense => Mat::zeros(0, 0),
                Wiring::Conv(w) => Mat::zeros(rows * reads, w.taps()),
            },
            raw: Mat::zeros(rows * reads, self.cols()),
            part: match self.adc {
                Some(_) => Mat::zeros(rows * reads, self.cols()),
                None => Mat::zeros(0, 0),
            },
            a: Mat::zeros(rows, (self.cols() * reads).max(widest_post)),
            b: Mat::zeros(rows, widest_post),
        }
    }

    /// Column currents of every read of a chunk of images (`f_in`, as for
    /// [`ProgrammedLayer::stage_into`]) into the first `rows * reads` rows of `scratch.raw`.
    fn currents_into(
        &self,
        g: MatRef<'_, f64>,
        f_bias: f64,
        f_in: MatRef<'_, f64>,
        scratch: &mut StageScratch,
    ) {
        let rows = f_in.nrows() * self.reads();
        let raw = scratch.raw.as_mut().subrows_mut(0, rows);
        match &self.wiring {
            Wiring::Dense => currents(f_in, g, f_bias, raw),
            Wiring::Conv(w) => {
                let mut p = scratch.patches.as_mut().subrows_mut(0, rows);
                w.im2col(f_in, p.as_mut());
                currents(p.as_ref(), g, f_bias, raw);
            }
        }
    }

    /// Each tile's partial column currents (bias included in the tile that holds the bias
    /// row) for every read of a chunk of images, one tile after the other: `visit(part, raw)`
    /// gets the tile's currents (`rows * reads x cols`) and the first `rows * reads` rows of
    /// `scratch.raw`, zeroed before the first tile.
    fn tile_currents(
        &self,
        g: MatRef<'_, f64>,
        f_bias: f64,
        f_in: MatRef<'_, f64>,
        scratch: &mut StageScratch,
        mut visit: impl FnMut(MatMut<'_, f64>, MatMut<'_, f64>),
    ) {
        let rows = f_in.nrows() * self.reads();
        let StageScratch {
            patches, raw, part, ..
        } = scratch;
        let drive = match &self.wiring {
            Wiring::Dense => f_in,
            Wiring::Conv(w) => {
                let mut p = patches.as_mut().subrows_mut(0, rows);
                w.im2col(f_in, p.as_mut());
                patches.as_ref().subrows(0, rows)
            }
        };
        let n_in = self.rows() - 1;
        let mut raw = raw.as_mut().subrows_mut(0, rows);
        let mut part = part.as_mut().subrows_mut(0, rows);
        raw.fill(0.0);
        for (r0, r1) in self.row_blocks() {
            let inputs = r1.min(n_in) - r0.min(n_in);
            if inputs > 0 {
                faer::linalg::matmul::matmul(
                    part.as_mut(),
                    Accum::Replace,
                    drive.subcols(r0, inputs),
                    g.subrows(r0, inputs),
                    1.0,
                    Par::Seq,
                );
            } else {
                part.fill(0.0);
            }
            if r1 > n_in {
                for j in 0..self.cols() {
                    let b = f_bias * g[(n_in, j)];
                    for v in part.as_mut().col_mut(j).iter_mut() {
                        *v += b;
                    }
                }
            }
            visit(part.as_mut(), raw.as_mut());
        }
    }

    /// Digitised tile outputs of every read, added per column, into the first `rows * reads`
    /// rows of `scratch.raw` (volts): for each tile (a block of array rows), its partial
    /// current times `R_load`, quantised by `adc`.
    fn adc_volts_into(
        &self,
        adc: &AdcStage,
        g: MatRef<'_, f64>,
        f_bias: f64,
        f_in: MatRef<'_, f64>,
        scratch: &mut StageScratch,
    ) {
        self.tile_currents(g, f_bias, f_in, scratch, |part, mut raw| {
            for j in 0..self.cols() {
                let src = part.as_ref().col(j);
                for (d, s) in raw.as_mut().col_mut(j).iter_mut().zip(src.iter()) {
                    *d += adc.quantize(*s * self.r_load);
                }
            }
        });
    }

    /// Output voltages of this stage for a chunk of images: `f_in` holds the read transfers
    /// `f(V)` of its inputs (`rows x input_len`), `g` the differential conductances to use
    /// (`rows() x cols()`), `out` receives `rows x output_len` volts (comparator, rectifier,
    /// rails, then the pooling steps). No allocation beyond `scratch`.
    pub fn stage_into(
        &self,
        g: MatRef<'_, f64>,
        f_bias: f64,
        rail: Option<f64>,
        f_in: MatRef<'_, f64>,
        scratch: &mut StageScratch,
        mut out: MatMut<'_, f64>,
    ) {
        let rows = f_in.nrows();
        let reads = self.reads();
        // With converters the digital sum is already in volts.
        let gain = match &self.adc {
            Some(adc) => {
                self.adc_volts_into(adc, g, f_bias, f_in, scratch);
                1.0
            }
            None => {
                self.currents_into(g, f_bias, f_in, scratch);
                self.r_load
            }
        };
        let mut raw = scratch.raw.as_mut().subrows_mut(0, rows * reads);
        periphery(raw.as_mut(), gain, self.rectify, rail);
        let width = self.cols() * reads;
        let (a, b) = (&mut scratch.a, &mut scratch.b);
        let mut cur = a.as_mut().submatrix_mut(0, 0, rows, width);
        match &self.wiring {
            Wiring::Dense => cur.copy_from(raw.as_ref()),
            Wiring::Conv(w) => w.col2im(raw.as_ref(), cur.as_mut()),
        }
        // Ping-pong between the two buffers; `in_a` says where the current values are.
        let mut in_a = true;
        for op in &self.post {
            let (n_in, n_out) = (op.input.len(), op.output.len());
            let (src, dst) = if in_a {
                (a.as_ref(), b.as_mut())
            } else {
                (b.as_ref(), a.as_mut())
            };
            op.layer
                .apply_fixed_into(
                    op.input,
                    op.output,
                    src.submatrix(0, 0, rows, n_in),
                    dst.submatrix_mut(0, 0, rows, n_out),
                )
                .expect("post ops have no weights and validated shapes");
            in_a = !in_a;
        }
        let n_out = self.output_len();
        let src = if in_a { a.as_ref() } else { b.as_ref() };
        out.copy_from(src.submatrix(0, 0, rows, n_out));
    }

    /// The differential conductance `G+ - G-` after applying `faults`.
    pub fn faulty_gdiff(&self, device: &DeviceParams, faults: &LayerFaults) -> Mat<f64> {
        let mut d = self.healthy_gdiff();
        for c in &faults.cells {
            let (i, j) = (c.row as usize, c.col as usize);
            let gp = c.plus.map_or(self.g_plus[(i, j)], |s| {
                device.conductance(device.stuck_gap(s))
            });
            let gm = c.minus.map_or(self.g_minus[(i, j)], |s| {
                device.conductance(device.stuck_gap(s))
            });
            d[(i, j)] = gp - gm;
        }
        d
    }

    /// The differential conductance of the healthy array.
    pub fn healthy_gdiff(&self) -> Mat<f64> {
        Mat::from_fn(self.rows(), self.cols(), |i, j| {
            self.g_plus[(i, j)] - self.g_minus[(i, j)]
        })
    }

    /// Conductances `(G+, G-)` after applying `faults` (for maps and netlists).
    pub fn faulty_conductances(
        &self,
        device: &DeviceParams,
        faults: &LayerFaults,
    ) -> (Mat<f64>, Mat<f64>) {
        let (mut p, mut m) = (self.g_plus.clone(), self.g_minus.clone());
        for c in &faults.cells {
            let (i, j) = (c.row as usize, c.col as usize);
            if let Some(s) = c.plus {
                p[(i, j)] = device.conductance(device.stuck_gap(s));
            }
            if let Some(s) = c.minus {
                m[(i, j)] = device.conductance(device.stuck_gap(s));
            }
        }
        (p, m)
    }
}

/// How one array of a network is wired: what [`AnalogNetwork::program_graph`] builds, and
/// what a configuration check can report before anything is programmed.
#[derive(Clone, Debug, PartialEq)]
pub struct ArrayStage {
    /// Index of the Dense or Conv2d layer in the network.
    pub layer: usize,
    /// How its rows are driven.
    pub wiring: Wiring,
    /// Whether a ReLU right after it is the array's rectifier.
    pub rectify: bool,
    /// The periphery steps up to the next array.
    pub post: Vec<PostOp>,
}

/// The arrays a network maps onto: every Dense or Conv2d layer starts one, a ReLU right after
/// it is its rectifier, and the layers without weights up to the next array run in the
/// periphery. Flatten moves no data and has no circuit.
///
/// # Errors
/// An invalid network, or a layer without weights (other than Flatten) before the first
/// array ([`CrossbarError::Unsupported`]).
pub fn array_stages(network: &Network) -> Result<Vec<ArrayStage>, CrossbarError> {
    let shapes = network.validate().map_err(|e| CrossbarError::Shape {
        what: e.to_string(),
    })?;
    let mut stages: Vec<ArrayStage> = Vec::new();
    let mut shape = network.input;
    for (k, layer) in network.layers.iter().enumerate() {
        let out = shapes[k];
        let wiring = match layer {
            Layer::Dense(_) => Some(Wiring::Dense),
            Layer::Conv2d(c) => Some(Wiring::Conv(Windows::of(c, shape).map_err(|e| {
                CrossbarError::Shape {
                    what: format!("layer {k}: {e}"),
                }
            })?)),
            _ => None,
        };
        match (wiring, stages.last_mut()) {
            (Some(wiring), _) => stages.push(ArrayStage {
                layer: k,
                wiring,
                rectify: false,
                post: Vec::new(),
            }),
            (None, _) if *layer == Layer::Flatten => {}
            (None, None) => {
                return Err(CrossbarError::Unsupported {
                    what: format!(
                        "layer {k} ({}) comes before the first layer with weights; only \
                         flatten may (the row drivers take the input as is)",
                        layer.kind()
                    ),
                });
            }
            // The rectifier right after the comparator.
            (None, Some(st)) if st.post.is_empty() && *layer == Layer::Relu => {
                st.rectify = true;
            }
            (None, Some(st)) => st.post.push(PostOp {
                layer: layer.clone(),
                input: shape,
                output: out,
            }),
        }
        shape = out;
    }
    Ok(stages)
}

/// The fully analog network: arrays, comparators, rectifiers, no ADC between layers.
#[derive(Clone, Debug)]
pub struct AnalogNetwork {
    /// The cell model.
    pub device: DeviceParams,
    /// Programmed arrays, input to output.
    pub layers: Vec<ProgrammedLayer>,
    /// Circuit settings used.
    pub circuit: CircuitConfig,
    /// `f(v_bias)`: the bias row's read transfer, cached.
    f_bias: f64,
}

impl AnalogNetwork {
    /// Maps the software layers onto arrays.
    ///
    /// Layer `l` has nominal input scale `s_l` (volts per software unit, `s_0 = v_in_max /
    /// input_max`); its bias row carries the weight `b s_l / v_bias` so the array computes
    /// `k s_l (x W + b)` as a current; `R_load` turns it into volts and the next scale is
    /// `s_{l+1} = R_load k s_l`. With `RLoad::Calibrated`, `calib` (software inputs, one image
    /// per row) is run through the circuit being built, and each layer's `R_load` is set so its
    /// largest output equals `v_in_max`. `variability` perturbs every programmed device,
    /// drawing from `rng` in layer, row, column, (+, -) order.
    pub fn program<R: Rng + ?Sized>(
        device: DeviceParams,
        layers: &[SoftLayer<'_>],
        circuit: &CircuitConfig,
        calib: Option<MatRef<'_, f64>>,
        variability: &Variability,
        rng: &mut R,
    ) -> Result<AnalogNetwork, CrossbarError> {
        for (l, w) in layers.iter().enumerate() {
            if w.b.len() != w.w.ncols() {
                return Err(CrossbarError::Shape {
                    what: format!(
                        "layer {l}: {} biases for {} outputs",
                        w.b.len(),
                        w.w.ncols()
                    ),
                });
            }
            if l > 0 && layers[l - 1].w.ncols() != w.w.nrows() {
                return Err(CrossbarError::Shape {
                    what: format!(
                        "layer {l} has {} inputs but layer {} has {} outputs",
                        w.w.nrows(),
                        l - 1,
                        layers[l - 1].w.ncols()
                    ),
                });
            }
        }
        let n = layers.len();
        let stages = (0..n)
            .map(|l| (Wiring::Dense, l + 1 < n, Vec::new()))
            .collect();
        Self::program_stages(device, layers, stages, circuit, calib, variability, rng)
    }

    /// Maps a network with convolutions and pooling onto arrays: every Dense or Conv2d layer
    /// becomes one array ([`Wiring`]), a ReLU right after it is the array's rectifier, and the
    /// layers without weights up to the next array (pooling, flatten, a later ReLU) run in the
    /// periphery ([`PostOp`]). Otherwise as [`AnalogNetwork::program`].
    ///
    /// Layers without weights before the first array are not supported (there is no circuit
    /// for them before the row drivers), except Flatten.
    ///
    /// ```
    /// use faer::Mat;
    /// use rand::SeedableRng;
    /// use xbar_crossbar::{AnalogNetwork, CircuitConfig, RLoad};
    /// use xbar_device::{DeviceParams, IvModel, Variability};
    /// use xbar_nn::graph::{Conv2d, Layer, Network, Pool, Shape};
    /// use xbar_nn::Dense;
    /// let conv = Conv2d::from_mckk(&[0.5, -0.25, 1.0, 0.75], 1, 1, [2, 2], vec![0.1], [1, 1], [0; 4])?;
    /// let soft = Network {
    ///     input: Shape::Image { channels: 1, height: 3, width: 3 },
    ///     layers: vec![
    ///         Layer::Conv2d(conv),
    ///         Layer::Relu,
    ///         Layer::MaxPool(Pool { kernel: [2, 2], stride: [1, 1], pads: [0; 4] }),
    ///         Layer::Flatten,
    ///         Layer::Dense(Dense { w: Mat::from_fn(1, 2, |_, j| j as f64 - 0.5), b: vec![0.0, 0.2] }),
    ///     ],
    ///     softmax_output: false,
    /// };
    /// let device = DeviceParams { iv: IvModel::Linear, ..DeviceParams::default() };
    /// let circuit = CircuitConfig { r_load: RLoad::Unity, ..CircuitConfig::default() };
    /// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    /// let net = AnalogNetwork::program_graph(device, &soft, &circuit, None, &Variability::default(), &mut rng)?;
    /// assert_eq!(net.array_shapes(), [(5, 1), (2, 2)]);
    /// let x = Mat::from_fn(2, 9, |i, j| ((i + 2 * j) % 5) as f64 / 4.0);
    /// let volts = net.forward(net.input_voltages(x.as_ref()).as_ref());
    /// let logits = soft.forward(x.as_ref())?;
    /// // Linear cells, unity gain: volts = v_in_max x the software output.
    /// for i in 0..2 { for j in 0..2 {
    ///     assert!((volts[(i, j)] - 0.1 * logits[(i, j)]).abs() < 1e-12);
    /// } }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn program_graph<R: Rng + ?Sized>(
        device: DeviceParams,
        network: &Network,
        circuit: &CircuitConfig,
        calib: Option<MatRef<'_, f64>>,
        variability: &Variability,
        rng: &mut R,
    ) -> Result<AnalogNetwork, CrossbarError> {
        let stages = array_stages(network)?;
        let layers: Vec<SoftLayer<'_>> = stages
            .iter()
            .map(|st| match &network.layers[st.layer] {
                Layer::Dense(d) => SoftLayer {
                    w: d.w.as_ref(),
                    b: &d.b,
                },
                Layer::Conv2d(c) => SoftLayer {
                    w: c.weight.as_ref(),
                    b: &c.bias,
                },
                _ => unreachable!("array_stages starts stages at layers with weights only"),
            })
            .collect();
        let stages = stages
            .into_iter()
            .map(|st| (st.wiring, st.rectify, st.post))
            .collect();
        Self::program_stages(device, &layers, stages, circuit, calib, variability, rng)
    }

    fn program_stages<R: Rng + ?Sized>(
        device: DeviceParams,
        layers: &[SoftLayer<'_>],
        stages: Vec<(Wiring, bool, Vec<PostOp>)>,
        circuit: &CircuitConfig,
        calib: Option<MatRef<'_, f64>>,
        variability: &Variability,
        rng: &mut R,
    ) -> Result<AnalogNetwork, CrossbarError> {
        circuit
            .validate(layers.len())
            .map_err(|issues| CrossbarError::InvalidCircuit { issues })?;
        if layers.is_empty() {
            return Err(CrossbarError::Shape {
                what: "the network has no layers".into(),
            });
        }
        let mut net = AnalogNetwork {
            device,
            layers: Vec::with_capacity(layers.len()),
            circuit: circuit.clone(),
            f_bias: device.read_transfer(circuit.v_bias),
        };
        if matches!(circuit.r_load, RLoad::Calibrated) && calib.is_none() {
            return Err(CrossbarError::Shape {
                what: "R_load calibration needs a calibration batch".into(),
            });
        }
        let input_len = match &stages[0].0 {
            Wiring::Dense => layers[0].w.nrows(),
            Wiring::Conv(w) => w.input.0 * w.input.1 * w.input.2,
        };
        // Read transfers of the calibration batch at the current layer's input.
        let mut calib_f = match calib {
            Some(x) if x.ncols() != input_len => {
                return Err(CrossbarError::Shape {
                    what: format!(
                        "calibration batch has {} features, the network {input_len}",
                        x.ncols(),
                    ),
                });
            }
            Some(x) => Some(net.transfer(net.input_voltages(x).as_ref())),
            None => None,
        };
        let g_zero = circuit.g_zero.unwrap_or(device.g_min());
        let g_max = device.g_max();
        if g_zero >= g_max {
            return Err(CrossbarError::Shape {
                what: format!("g-zero {g_zero} S is not below G_max {g_max} S"),
            });
        }
        let mut s = circuit.v_in_max / circuit.input_max;
        for (l, (sl, (wiring, rectify, post))) in layers.iter().zip(stages).enumerate() {
            let (n_in, n_out) = (sl.w.nrows(), sl.w.ncols());
            let bias_factor = s / circuit.v_bias;
            let hw = |i: usize, j: usize| {
                if i < n_in {
                    sl.w[(i, j)]
                } else {
                    sl.b[j] * bias_factor
                }
            };
            let w_scale = match &circuit.w_scale {
                Some(v) => v[l],
                None => {
                    let mut m = 0.0f64;
                    for j in 0..n_out {
                        for i in 0..=n_in {
                            m = m.max(hw(i, j).abs());
                        }
                    }
                    if m > 0.0 { m } else { 1.0 }
                }
            };
            let span = g_max - g_zero;
            let k = span / w_scale;
            let mut g_plus = Mat::<f64>::zeros(n_in + 1, n_out);
            let mut g_minus = Mat::<f64>::zeros(n_in + 1, n_out);
            for i in 0..=n_in {
                for j in 0..n_out {
                    // Weights beyond w_scale (an explicit scale) saturate at the device range.
                    let w = hw(i, j).clamp(-w_scale, w_scale);
                    let (tp, tm) = match circuit.mapping {
                        Mapping::Offset => (g_zero + w.max(0.0) * k, g_zero + (-w).max(0.0) * k),
                        Mapping::Balanced => {
                            let mid = 0.5 * (g_zero + g_max);
                            (mid + 0.5 * w * k, mid - 0.5 * w * k)
                        }
                    };
                    g_plus[(i, j)] = variability.program(&device, tp, rng);
                    g_minus[(i, j)] = variability.program(&device, tm, rng);
                }
            }
            let mut layer = ProgrammedLayer {
                g_plus,
                g_minus,
                k,
                w_scale,
                r_load: 1.0 / k,
                input_scale: s,
                rectify,
                wiring,
                post,
                adc: None,
            };
            let gdiff = layer.healthy_gdiff();
            layer.r_load = match &circuit.r_load {
                RLoad::Unity => 1.0 / k,
                RLoad::Ohms(r) => r[l],
                RLoad::Calibrated => {
                    let cf = calib_f.as_ref().expect("checked above");
                    let peak = net.peak_current(&layer, gdiff.as_ref(), cf.as_ref());
                    if peak > 0.0 {
                        circuit.v_in_max / peak
                    } else {
                        1.0 / k
                    }
                }
            };
            if let Some(a) = &circuit.adc {
                let block_rows = circuit.chip.map_or(n_in + 1, |c| c.array[0]);
                // The tiles are set before the range, which is measured on them.
                let mut stage = AdcStage {
                    bits: a.bits,
                    range: 0.0,
                    block_rows,
                };
                layer.adc = Some(stage);
                stage.range = match a.range {
                    AdcRange::Volts(v) => v,
                    AdcRange::Calibrated => {
                        let cf = calib_f.as_ref().ok_or_else(|| CrossbarError::Shape {
                            what: "a calibrated ADC range needs a calibration batch".into(),
                        })?;
                        let peak = net.peak_partial(&layer, gdiff.as_ref(), cf.as_ref());
                        if peak > 0.0 { peak } else { circuit.v_in_max }
                    }
                };
                layer.adc = Some(stage);
            }
            if let Some(cf) = calib_f.as_mut() {
                let v = net.stage(&layer, gdiff.as_ref(), cf.as_ref());
                *cf = net.transfer(v.as_ref());
            }
            s *= layer.r_load * k;
            net.layers.push(layer);
        }
        Ok(net)
    }

    /// Images per chunk when a batch of `n` runs through the network: all of them for dense
    /// networks, fewer for convolutions so that no stage's patch matrix exceeds about 2^21
    /// entries (16 MiB): nothing of size rows x positions x batch is built.
    pub fn chunk_rows(&self, n: usize) -> usize {
        const BUDGET: usize = 1 << 21;
        if self.layers.iter().all(ProgrammedLayer::is_dense) {
            return n.max(1);
        }
        let per_image = self
            .layers
            .iter()
            .map(|l| l.reads() * (l.rows() + l.cols()) + 2 * l.output_len().max(l.input_len()))
            .max()
            .unwrap_or(1);
        (BUDGET / per_image.max(1)).clamp(1, n.max(1))
    }

    /// Output volts of one stage for the read transfers `f_in` of all its inputs, in chunks.
    fn stage(
        &self,
        layer: &ProgrammedLayer,
        g: MatRef<'_, f64>,
        f_in: MatRef<'_, f64>,
    ) -> Mat<f64> {
        let n = f_in.nrows();
        let chunk = self.chunk_rows(n);
        let mut scratch = layer.scratch(chunk);
        let mut out = Mat::<f64>::zeros(n, layer.output_len());
        let mut start = 0;
        while start < n {
            let rows = chunk.min(n - start);
            layer.stage_into(
                g,
                self.f_bias,
                self.circuit.rail,
                f_in.subrows(start, rows),
                &mut scratch,
                out.as_mut().subrows_mut(start, rows),
            );
            start += rows;
        }
        out
    }

    /// The largest column current (before `R_load`) of one stage over every read of `f_in`.
    fn peak_current(
        &self,
        layer: &ProgrammedLayer,
        g: MatRef<'_, f64>,
        f_in: MatRef<'_, f64>,
    ) -> f64 {
        let n = f_in.nrows();
        let chunk = self.chunk_rows(n);
        let mut scratch = layer.scratch(chunk);
        let mut peak = 0.0f64;
        let mut start = 0;
        while start < n {
            let rows = chunk.min(n - start);
            layer.currents_into(g, self.f_bias, f_in.subrows(start, rows), &mut scratch);
            let raw = scratch.raw.as_ref().subrows(0, rows * layer.reads());
            for c in raw.col_iter() {
                peak = c.iter().copied().fold(peak, f64::max);
            }
            start += rows;
        }
        peak
    }

    /// The largest |partial output| `R_load |I|` of any tile of `layer` (whose `adc` gives
    /// the tile rows) over every read of `f_in` (the calibrated ADC range).
    fn peak_partial(
        &self,
        layer: &ProgrammedLayer,
        g: MatRef<'_, f64>,
        f_in: MatRef<'_, f64>,
    ) -> f64 {
        let n = f_in.nrows();
        let chunk = self.chunk_rows(n);
        let mut scratch = layer.scratch(chunk);
        let mut peak = 0.0f64;
        let mut start = 0;
        while start < n {
            let rows = chunk.min(n - start);
            layer.tile_currents(
                g,
                self.f_bias,
                f_in.subrows(start, rows),
                &mut scratch,
                |part, _| {
                    for c in part.as_ref().col_iter() {
                        peak = c.iter().fold(peak, |m, v| m.max(v.abs()));
                    }
                },
            );
            start += rows;
        }
        peak * layer.r_load
    }

    /// Row voltages of the first array for software inputs: `x v_in_max / input_max`.
    pub fn input_voltages(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let v = self.circuit.v_in_max / self.circuit.input_max;
        Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] * v)
    }

    /// An [`CrossbarError::Unsupported`] naming `what` unless every array is a plain dense one.
    pub fn require_dense(&self, what: &str) -> Result<(), CrossbarError> {
        match self.layers.iter().position(|l| !l.is_dense()) {
            None => Ok(()),
            Some(l) => Err(CrossbarError::Unsupported {
                what: format!(
                    "{what} is modelled for networks of dense layers only; array {l} is {}",
                    match self.layers[l].wiring {
                        Wiring::Conv(_) => "a convolution",
                        Wiring::Dense => "followed by pooling",
                    }
                ),
            }),
        }
    }

    /// An [`CrossbarError::Unsupported`] naming `what` when array `layer` is split over
    /// several tiles of the circuit's chip or read through ADCs (what a single-array model,
    /// such as the netlist writer, cannot represent).
    pub fn require_single_tile(&self, what: &str, layer: usize) -> Result<(), CrossbarError> {
        let l = &self.layers[layer];
        let split = self.circuit.chip.is_some_and(|c| {
            let (tr, tc) = c.tile_pairs();
            l.rows() > tr || l.cols() > tc
        });
        if split || l.adc.is_some() {
            return Err(CrossbarError::Unsupported {
                what: format!(
                    "{what}: array {layer} is {}; only a whole array with analog comparators \
                     is modelled there",
                    if split {
                        "split over several tiles"
                    } else {
                        "read through ADCs"
                    }
                ),
            });
        }
        Ok(())
    }

    /// Array shapes `(rows incl. bias, columns)`, input to output.
    pub fn array_shapes(&self) -> Vec<(usize, usize)> {
        self.layers.iter().map(|l| (l.rows(), l.cols())).collect()
    }

    /// Output voltages of every layer (after comparator, rectifier, rails and pooling) for
    /// row voltages `v_in` (one image per row).
    pub fn forward_all(&self, v_in: MatRef<'_, f64>) -> Vec<Mat<f64>> {
        let mut outs = Vec::with_capacity(self.layers.len());
        let mut f = self.transfer(v_in);
        for layer in &self.layers {
            let gd = layer.healthy_gdiff();
            let v = self.stage(layer, gd.as_ref(), f.as_ref());
            f = self.transfer(v.as_ref());
            outs.push(v);
        }
        outs
    }

    /// Output voltages of the last layer for row voltages `v_in`.
    pub fn forward(&self, v_in: MatRef<'_, f64>) -> Mat<f64> {
        self.forward_all(v_in).pop().expect("at least one layer")
    }

    /// `f(V)` of every entry: the sinh pre-distortion (or identity for linear reads).
    pub fn transfer(&self, v: MatRef<'_, f64>) -> Mat<f64> {
        Mat::from_fn(v.nrows(), v.ncols(), |i, j| {
            self.device.read_transfer(v[(i, j)])
        })
    }

    /// `f(v_bias)`, the bias row's read transfer.
    pub fn bias_transfer(&self) -> f64 {
        self.f_bias
    }
}

/// Column currents `I_diff = f(V) [G+ - G-]` of one array for a batch: `f_in` is `n x in`
/// (read transfers of the row voltages), `gdiff` is `(in+1) x out` with the bias row last,
/// `out` is `n x out`. One GEMM plus a rank-one bias update.
pub fn currents(
    f_in: MatRef<'_, f64>,
    gdiff: MatRef<'_, f64>,
    f_bias: f64,
    mut out: MatMut<'_, f64>,
) {
    let n_in = f_in.ncols();
    faer::linalg::matmul::matmul(
        out.as_mut(),
        Accum::Replace,
        f_in,
        gdiff.subrows(0, n_in),
        1.0,
        Par::Seq,
    );
    for j in 0..out.ncols() {
        let b = f_bias * gdiff[(n_in, j)];
        for v in out.as_mut().col_mut(j).iter_mut() {
            *v += b;
        }
    }
}

/// Comparator, rectifier and rails in place: `V = R_load I`, then `clamp(max(0, V), rail)`
/// on hidden layers or `clamp(V, -rail, rail)` on the last.
pub fn periphery(mut v: MatMut<'_, f64>, r_load: f64, rectify: bool, rail: Option<f64>) {
    let hi = rail.unwrap_or(f64::INFINITY);
    let lo = if rectify { 0.0 } else { -hi };
    for j in 0..v.ncols() {
        for x in v.as_mut().col_mut(j).iter_mut() {
            *x = (*x * r_load).max(lo).min(hi);
        }
    }
}
