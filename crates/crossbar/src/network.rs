//! Weight mapping, the analog layer model and the whole analog network.

use faer::{Accum, Mat, MatMut, MatRef, Par};
use rand::Rng;
use serde::{Deserialize, Serialize};
use xbar_device::{DeviceParams, Issues, Variability};

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

/// Circuit settings shared by every array of the network.
///
/// ```
/// let c = xbar_crossbar::CircuitConfig::default();
/// assert_eq!(c.v_in_max, 0.1);
/// assert!(c.validate(4).is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CircuitConfig {
    /// Row voltage of a full-scale input (pixel 16/16), in V. Default 0.1 V.
    pub v_in_max: f64,
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
}

impl Default for CircuitConfig {
    fn default() -> Self {
        Self {
            v_in_max: 0.1,
            v_bias: 0.1,
            g_zero: None,
            w_scale: None,
            r_load: RLoad::Calibrated,
            rail: None,
            mapping: Mapping::Offset,
        }
    }
}

impl CircuitConfig {
    /// Checks every value against a network with `layers` arrays.
    pub fn validate(&self, layers: usize) -> Result<(), Issues> {
        let mut i = Issues::default();
        i.check_range("v-in-max", self.v_in_max, 0.0, 1.0, true);
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
    /// Layer `l` has nominal input scale `s_l` (volts per software unit, `s_0 = v_in_max`);
    /// its bias row carries the weight `b s_l / v_bias` so the array computes
    /// `k s_l (x W + b)` as a current; `R_load` turns it into volts and the next scale is
    /// `s_{l+1} = R_load k s_l`. With `RLoad::Calibrated`, `calib` (software inputs in `[0,1]`,
    /// one image per row) is run through the circuit being built, and each layer's `R_load` is
    /// set so its largest output equals `v_in_max`. `variability` perturbs every programmed
    /// device, drawing from `rng` in layer, row, column, (+, -) order.
    pub fn program<R: Rng + ?Sized>(
        device: DeviceParams,
        layers: &[SoftLayer<'_>],
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
        // Read transfers of the calibration batch at the current layer's input.
        let mut calib_f = match calib {
            Some(x) if x.ncols() != layers[0].w.nrows() => {
                return Err(CrossbarError::Shape {
                    what: format!(
                        "calibration batch has {} features, the network {}",
                        x.ncols(),
                        layers[0].w.nrows()
                    ),
                });
            }
            Some(x) => Some(Mat::from_fn(x.nrows(), x.ncols(), |i, j| {
                device.read_transfer(x[(i, j)] * circuit.v_in_max)
            })),
            None => None,
        };
        let g_zero = circuit.g_zero.unwrap_or(device.g_min());
        let g_max = device.g_max();
        if g_zero >= g_max {
            return Err(CrossbarError::Shape {
                what: format!("g-zero {g_zero} S is not below G_max {g_max} S"),
            });
        }
        let mut s = circuit.v_in_max;
        let n_layers = layers.len();
        for (l, sl) in layers.iter().enumerate() {
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
                rectify: l + 1 < n_layers,
            };
            let gdiff = layer.healthy_gdiff();
            layer.r_load = match &circuit.r_load {
                RLoad::Unity => 1.0 / k,
                RLoad::Ohms(r) => r[l],
                RLoad::Calibrated => {
                    let cf = calib_f.as_ref().expect("checked above");
                    let mut cur = Mat::<f64>::zeros(cf.nrows(), n_out);
                    currents(cf.as_ref(), gdiff.as_ref(), net.f_bias, cur.as_mut());
                    let peak = cur
                        .col_iter()
                        .map(|c| c.iter().copied().fold(0.0f64, f64::max))
                        .fold(0.0f64, f64::max);
                    if peak > 0.0 {
                        circuit.v_in_max / peak
                    } else {
                        1.0 / k
                    }
                }
            };
            if let Some(cf) = calib_f.as_mut() {
                let mut v = Mat::<f64>::zeros(cf.nrows(), n_out);
                currents(cf.as_ref(), gdiff.as_ref(), net.f_bias, v.as_mut());
                periphery(v.as_mut(), layer.r_load, layer.rectify, circuit.rail);
                *cf = Mat::from_fn(v.nrows(), v.ncols(), |i, j| device.read_transfer(v[(i, j)]));
            }
            s *= layer.r_load * k;
            net.layers.push(layer);
        }
        Ok(net)
    }

    /// Row voltages of the first array for software inputs in `[0, 1]`.
    pub fn input_voltages(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let v = self.circuit.v_in_max;
        Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] * v)
    }

    /// Output voltages of every layer (after comparator, rectifier and rails) for row
    /// voltages `v_in` (one image per row).
    pub fn forward_all(&self, v_in: MatRef<'_, f64>) -> Vec<Mat<f64>> {
        let mut outs = Vec::with_capacity(self.layers.len());
        let mut f = self.transfer(v_in);
        for layer in &self.layers {
            let gd = layer.healthy_gdiff();
            let mut v = Mat::<f64>::zeros(v_in.nrows(), layer.cols());
            currents(f.as_ref(), gd.as_ref(), self.f_bias, v.as_mut());
            periphery(v.as_mut(), layer.r_load, layer.rectify, self.circuit.rail);
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
