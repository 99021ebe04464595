//! The detection protocol: every code of xbar-ecc on one faulty array, as plain `Serialize`
//! records (no files, no printing; the experiment runner and the report crate consume them).
//!
//! # Protocol
//!
//! One layer `y = x W + b` (array layout `(in+1) x out`, bias row last) and a batch of inputs
//! `x` in `[0, 1]`. For each code:
//!
//! 1. Encode and program the layer (the code's array: data columns plus check columns for
//!    ABFT, coded weights for the real-number code, integer `A w` levels for AN codes), with the
//!    setup's programming variability (ChaCha8 `seed`, stream 0).
//! 2. Build the defect mask on the *coded* array's grid (check columns can be hit too) and turn
//!    it into stuck devices (stream 1).
//! 3. Run the batch three ways: the reference (programmed array, no faults, no read noise),
//!    a clean run (no faults, read noise from stream 2) and a faulty run (faults, read noise from
//!    stream 3).
//! 4. An input vector is **erroneous** when some data output of the faulty run deviates from the
//!    reference by more than its noise band `kappa sigma_j` (AN codes: any integer difference).
//!    It is **detected** when the code flags it, **corrected** when the decoder claimed a
//!    correction and every data output is back within the code's resolution (the larger of its
//!    noise band and the largest syndrome threshold: an analog decoder cannot estimate an error
//!    more precisely than its syndrome noise), **miscorrected** when the decoder claimed a
//!    correction that left it wrong. A **false alarm** is a clean-run vector that is flagged
//!    although it is not erroneous. AN codes correct each output on its own with a residue
//!    table of the transient errors of a bit-serial array (`±2^t`, `t < input_bits`: one ADC
//!    conversion off by one LSB).
//!
//! Rates: detection, correction and miss rates are fractions of the erroneous vectors (0 when
//! there are none); the false-alarm rate is a fraction of all clean-run vectors.
//!
//! Every standard deviation has a floor of 1 nV, so that floating-point rounding of an ideal
//! array never counts as noise.

use faer::{Mat, MatRef};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use xbar_crossbar::{
    AnalogNetwork, CircuitConfig, FaultLevel, LayerFaults, RLoad, Shape, SoftLayer, StuckState,
    currents,
};
use xbar_device::{DeviceParams, Variability};

use crate::raw::CodeFamily;

/// Results of the protocol: code parameter and shape errors are [`EccError`]s.
type Result<T> = std::result::Result<T, EccError>;

use xbar_ecc::abft::{
    CheckCode, Decision, TernaryCode, TernaryKind, WeightScheme, WeightedChecksum, encode_layer,
    syndrome_thresholds,
};
use xbar_ecc::an::array::{AnArray, AnArrayConfig, ResidueOutcome, ResidueTable};
use xbar_ecc::rnecc::{CodeConfig, OutputCheck, Type2, WeightCode};
use xbar_ecc::{EccError, NoiseModel, invalid};

/// Floor on every standard deviation, in V.
const SIGMA_FLOOR: f64 = 1e-9;

/// A layer, a batch and the analog conditions shared by every code of an experiment.
#[derive(Clone, Copy, Debug)]
pub struct Setup<'a> {
    /// Weights, `in x out` (as `xbar_nn::Dense::w`).
    pub w: MatRef<'a, f64>,
    /// Biases, `out`.
    pub b: &'a [f64],
    /// Inputs in `[0, 1]`, one vector per row (`n x in`).
    pub x: MatRef<'a, f64>,
    /// The cell model.
    pub device: DeviceParams,
    /// Programming variability of every device.
    pub variability: Variability,
    /// Read noise at each comparator output, in V.
    pub sigma_read: f64,
    /// Threshold multiple of every check.
    pub kappa: f64,
    /// Seed of every random stream.
    pub seed: u64,
}

impl Setup<'_> {
    fn noise(&self) -> NoiseModel {
        NoiseModel::from_variability(&self.variability, &self.device, self.sigma_read, self.kappa)
    }

    fn rng(&self, stream: u64) -> ChaCha8Rng {
        let mut r = ChaCha8Rng::seed_from_u64(self.seed);
        r.set_stream(stream);
        r
    }

    fn check(&self) -> Result<()> {
        if self.w.ncols() != self.b.len() || self.x.ncols() != self.w.nrows() {
            return Err(EccError::Shape {
                what: format!(
                    "weights {} x {}, {} biases, inputs with {} features",
                    self.w.nrows(),
                    self.w.ncols(),
                    self.b.len(),
                    self.x.ncols()
                ),
            });
        }
        if self.x.nrows() == 0 {
            return Err(invalid("x", "an empty batch", "at least one input vector"));
        }
        self.noise().validate()
    }
}

/// A defect on the coded array: geometry, stuck state and level.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultSpec {
    /// Geometry (a fraction of the coded array, as everywhere in xbar).
    pub shape: Shape,
    /// Stuck state of the devices under the mask.
    pub state: StuckState,
    /// Pair or device level.
    pub level: FaultLevel,
}

/// Detection statistics of one code under one defect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectionRecord {
    /// The code (`rnecc-ones`, `lhc`, `secded`, `wcs-luk-park-d3`, `an-29`, ...).
    pub code: String,
    /// Defect geometry kind.
    pub defect: String,
    /// Stuck state label.
    pub stuck: String,
    /// `pair` or `device`.
    pub level: String,
    /// Faulty cells on the coded array.
    pub faulty_cells: u32,
    /// Input vectors.
    pub vectors: u32,
    /// Erroneous vectors of the faulty run.
    pub erroneous: u32,
    /// Erroneous and flagged.
    pub detected: u32,
    /// Erroneous and restored within the noise band.
    pub corrected: u32,
    /// A correction was claimed but the outputs stayed wrong.
    pub miscorrected: u32,
    /// Erroneous and not flagged.
    pub missed: u32,
    /// Clean-run vectors flagged without an error.
    pub false_alarms: u32,
    /// Clean-run vectors that are erroneous without any defect (noise beyond the band; for AN
    /// codes any integer error, e.g. from programming variability or ADC noise).
    pub clean_erroneous: u32,
    /// `detected / erroneous`.
    pub detection_rate: f64,
    /// `corrected / erroneous`.
    pub correction_rate: f64,
    /// `missed / erroneous`.
    pub miss_rate: f64,
    /// `false_alarms / vectors`.
    pub false_alarm_rate: f64,
    /// Data columns of the array.
    pub data_columns: u32,
    /// Extra array columns of the code.
    pub extra_columns: u32,
    /// Extra values that must be sensed per input (check outputs or check sums).
    pub extra_sensed_outputs: u32,
    /// Extra ADC resolution the code needs, in bits.
    pub extra_adc_bits: f64,
    /// Whether the code can correct (the correction counts are 0 otherwise).
    pub corrects: bool,
}

#[derive(Default)]
struct Tally {
    vectors: u32,
    erroneous: u32,
    detected: u32,
    corrected: u32,
    miscorrected: u32,
    missed: u32,
    false_alarms: u32,
    clean_erroneous: u32,
}

impl Tally {
    /// One faulty-run vector: `claimed` = the decoder applied a correction it believed
    /// complete, `restored` = the data outputs are within the noise band afterwards.
    fn faulty(&mut self, erroneous: bool, flagged: bool, claimed: bool, restored: bool) {
        self.vectors += 1;
        if erroneous {
            self.erroneous += 1;
            if flagged {
                self.detected += 1;
            } else {
                self.missed += 1;
            }
            if claimed && restored {
                self.corrected += 1;
            }
        }
        if claimed && !restored {
            self.miscorrected += 1;
        }
    }

    fn clean(&mut self, erroneous: bool, flagged: bool) {
        if flagged && !erroneous {
            self.false_alarms += 1;
        }
        if erroneous {
            self.clean_erroneous += 1;
        }
    }

    fn record(
        &self,
        code: String,
        spec: &FaultSpec,
        cells: usize,
        hw: Hardware,
    ) -> DetectionRecord {
        let frac = |a: u32, b: u32| {
            if b == 0 {
                0.0
            } else {
                f64::from(a) / f64::from(b)
            }
        };
        DetectionRecord {
            code,
            defect: spec.shape.kind().to_string(),
            stuck: spec.state.label(),
            level: match spec.level {
                FaultLevel::Pair => "pair".into(),
                FaultLevel::Device => "device".into(),
            },
            faulty_cells: cells as u32,
            vectors: self.vectors,
            erroneous: self.erroneous,
            detected: self.detected,
            corrected: self.corrected,
            miscorrected: self.miscorrected,
            missed: self.missed,
            false_alarms: self.false_alarms,
            clean_erroneous: self.clean_erroneous,
            detection_rate: frac(self.detected, self.erroneous),
            correction_rate: frac(self.corrected, self.erroneous),
            miss_rate: frac(self.missed, self.erroneous),
            false_alarm_rate: frac(self.false_alarms, self.vectors),
            data_columns: hw.data_columns,
            extra_columns: hw.extra_columns,
            extra_sensed_outputs: hw.extra_sensed,
            extra_adc_bits: hw.extra_adc_bits,
            corrects: hw.corrects,
        }
    }
}

#[derive(Clone, Copy)]
struct Hardware {
    data_columns: u32,
    extra_columns: u32,
    extra_sensed: u32,
    extra_adc_bits: f64,
    corrects: bool,
}

/// One programmed analog array and the batch's read transfers.
struct Analog {
    net: AnalogNetwork,
    f_in: Mat<f64>,
    /// Per output variance (`n x cols`), floored.
    var: Mat<f64>,
    noise: NoiseModel,
}

impl Analog {
    fn program(setup: &Setup<'_>, w: MatRef<'_, f64>, b: &[f64]) -> Result<Analog> {
        let circuit = CircuitConfig {
            r_load: RLoad::Unity,
            ..CircuitConfig::default()
        };
        let net = AnalogNetwork::program(
            setup.device,
            &[SoftLayer { w, b }],
            &circuit,
            None,
            &setup.variability,
            &mut setup.rng(0),
        )?;
        let v_in = net.input_voltages(setup.x);
        let f_in = net.transfer(v_in.as_ref());
        let noise = setup.noise();
        let weights = noise.device_weights(&net.layers[0]);
        let mut var = noise.output_variance(weights.as_ref(), f_in.as_ref(), net.bias_transfer());
        for j in 0..var.ncols() {
            for v in var.col_mut(j).iter_mut() {
                *v = v.max(SIGMA_FLOOR * SIGMA_FLOOR);
            }
        }
        Ok(Analog {
            net,
            f_in,
            var,
            noise,
        })
    }

    fn rows(&self) -> usize {
        self.net.layers[0].rows()
    }

    fn cols(&self) -> usize {
        self.net.layers[0].cols()
    }

    fn faults(&self, setup: &Setup<'_>, spec: &FaultSpec) -> Result<LayerFaults> {
        let mut rng = setup.rng(1);
        let mask = spec.shape.mask(self.rows(), self.cols(), &mut rng)?;
        Ok(LayerFaults::from_mask(
            &mask, spec.state, spec.level, &mut rng,
        ))
    }

    /// Comparator outputs (before any rectifier) for differential conductances `gdiff`, read
    /// transfers `f_in` and read noise from `rng` (none if `None`).
    fn outputs(
        &self,
        gdiff: &Mat<f64>,
        f_in: MatRef<'_, f64>,
        rng: Option<&mut ChaCha8Rng>,
        sigma: f64,
    ) -> Mat<f64> {
        let layer = &self.net.layers[0];
        let mut y = Mat::<f64>::zeros(f_in.nrows(), layer.cols());
        currents(f_in, gdiff.as_ref(), self.net.bias_transfer(), y.as_mut());
        let r = layer.r_load;
        match rng {
            Some(rng) if sigma > 0.0 => {
                for j in 0..y.ncols() {
                    for v in y.col_mut(j).iter_mut() {
                        let z: f64 = StandardNormal.sample(rng);
                        *v = *v * r + sigma * z;
                    }
                }
            }
            _ => {
                for j in 0..y.ncols() {
                    for v in y.col_mut(j).iter_mut() {
                        *v *= r;
                    }
                }
            }
        }
        y
    }

    fn tolerance(&self, i: usize, j: usize) -> f64 {
        self.noise.kappa * self.var[(i, j)].sqrt()
    }

    fn erroneous(&self, y: &Mat<f64>, y_ref: &Mat<f64>, i: usize, cols: usize) -> bool {
        (0..cols).any(|j| (y[(i, j)] - y_ref[(i, j)]).abs() > self.tolerance(i, j))
    }
}

/// The three runs of an analog code: reference, clean and faulty.
struct Runs {
    y_ref: Mat<f64>,
    y_clean: Mat<f64>,
    y_faulty: Mat<f64>,
}

fn analog_runs(setup: &Setup<'_>, a: &Analog, faults: &LayerFaults) -> Runs {
    let layer = &a.net.layers[0];
    let healthy = layer.healthy_gdiff();
    let faulty = layer.faulty_gdiff(&a.net.device, faults);
    let y_ref = a.outputs(&healthy, a.f_in.as_ref(), None, 0.0);
    let y_clean = a.outputs(
        &healthy,
        a.f_in.as_ref(),
        Some(&mut setup.rng(2)),
        setup.sigma_read,
    );
    let y_faulty = a.outputs(
        &faulty,
        a.f_in.as_ref(),
        Some(&mut setup.rng(3)),
        setup.sigma_read,
    );
    Runs {
        y_ref,
        y_clean,
        y_faulty,
    }
}

/// The real-number code's online check `c^T y` on a layer whose weights already satisfy
/// `H c_l = 0` (`checks`: `L x out`, e.g. [`WeightCode::checks`] after projection or
/// fine-tuning). Detection only (correction is the job of `xbar-correct`).
pub fn detect_rnecc(
    setup: &Setup<'_>,
    checks: MatRef<'_, f64>,
    spec: &FaultSpec,
) -> Result<DetectionRecord> {
    setup.check()?;
    let out = setup.w.ncols();
    if checks.ncols() != out {
        return Err(EccError::Shape {
            what: format!("{} check entries for {out} outputs", checks.ncols()),
        });
    }
    // The weights must be a codeword of the checks.
    let n_in = setup.w.nrows();
    let mut worst = 0.0f64;
    let mut norm = 0.0f64;
    for i in 0..=n_in {
        for l in 0..checks.nrows() {
            let mut s = 0.0;
            for j in 0..out {
                let h = if i < n_in {
                    setup.w[(i, j)]
                } else {
                    setup.b[j]
                };
                s += h * checks[(l, j)];
                norm = norm.max(h.abs());
            }
            worst = worst.max(s.abs());
        }
    }
    if worst > 1e-9 * norm.max(1e-300) * out as f64 {
        return Err(invalid(
            "w",
            format!("max |H c| = {worst:e}"),
            "weights that satisfy the type-2 checks (project them first)",
        ));
    }
    let a = Analog::program(setup, setup.w, setup.b)?;
    let faults = a.faults(setup, spec)?;
    let runs = analog_runs(setup, &a, &faults);
    let check = OutputCheck::new(checks, &a.net.layers[0], &a.noise)?;
    let f_bias = a.net.bias_transfer();
    let clean = check.check(runs.y_clean.as_ref(), a.f_in.as_ref(), f_bias);
    let faulty = check.check(runs.y_faulty.as_ref(), a.f_in.as_ref(), f_bias);
    let mut t = Tally::default();
    for i in 0..setup.x.nrows() {
        let e_c = a.erroneous(&runs.y_clean, &runs.y_ref, i, out);
        t.clean(e_c, clean.flagged[i]);
        let e_f = a.erroneous(&runs.y_faulty, &runs.y_ref, i, out);
        t.faulty(e_f, faulty.flagged[i], false, true);
    }
    let name = if checks.nrows() == 1 && (0..out).all(|j| checks[(0, j)] == 1.0) {
        "rnecc-ones".to_string()
    } else {
        format!("rnecc-{}checks", checks.nrows())
    };
    Ok(t.record(
        name,
        spec,
        faults.len(),
        Hardware {
            data_columns: out as u32,
            extra_columns: 0,
            extra_sensed: checks.nrows() as u32,
            extra_adc_bits: 0.0,
            corrects: false,
        },
    ))
}

/// An ABFT code on the layer: the scaled check columns are programmed beside the data columns,
/// the syndrome `P ŷ - s ẑ` is thresholded with the noise model and decoded; a located single
/// error is corrected.
pub fn detect_abft(
    setup: &Setup<'_>,
    code: &dyn CheckCode,
    spec: &FaultSpec,
) -> Result<DetectionRecord> {
    setup.check()?;
    let enc = encode_layer(code, setup.w, setup.b)?;
    let (k, r) = (enc.k, enc.r);
    let a = Analog::program(setup, enc.w.as_ref(), &enc.b)?;
    let faults = a.faults(setup, spec)?;
    let runs = analog_runs(setup, &a, &faults);
    let p = code.check_matrix();
    let mut t = Tally::default();
    let (mut y, mut z, mut s, mut tau) = (vec![0.0; k], vec![0.0; r], vec![0.0; r], vec![0.0; r]);
    let (mut vy, mut vz) = (vec![0.0; k], vec![0.0; r]);
    for i in 0..setup.x.nrows() {
        for (j, v) in vy.iter_mut().enumerate() {
            *v = a.var[(i, j)];
        }
        for (c, v) in vz.iter_mut().enumerate() {
            *v = a.var[(i, k + c)];
        }
        syndrome_thresholds(&p, &vy, &vz, enc.scale, a.noise.kappa, &mut tau);
        for (run, faulty) in [(&runs.y_clean, false), (&runs.y_faulty, true)] {
            for j in 0..k {
                y[j] = run[(i, j)];
            }
            for c in 0..r {
                z[c] = run[(i, k + c)] * enc.scale;
            }
            code.syndrome(&y, &z, &mut s);
            let d = code.decode(&s, &tau);
            let erroneous = a.erroneous(run, &runs.y_ref, i, k);
            if !faulty {
                t.clean(erroneous, d.flagged());
                continue;
            }
            let claimed = matches!(d, Decision::Corrected { .. });
            xbar_ecc::abft::apply_correction(&d, &mut y, &mut z);
            // The decoder cannot resolve errors below its own syndrome thresholds.
            let resolution = tau.iter().fold(0.0f64, |m, t| m.max(*t));
            let restored = (0..k)
                .all(|j| (y[j] - runs.y_ref[(i, j)]).abs() <= a.tolerance(i, j).max(resolution));
            t.faulty(erroneous, d.flagged(), claimed, restored);
        }
    }
    Ok(t.record(
        code.name(),
        spec,
        faults.len(),
        Hardware {
            data_columns: k as u32,
            extra_columns: r as u32,
            extra_sensed: r as u32,
            extra_adc_bits: enc.scale.log2(),
            corrects: true,
        },
    ))
}

/// An AN code on the layer (integer weights, bit-serial inputs, integer ADC outputs, residue
/// check, single-arithmetic-error residue table).
pub fn detect_an(
    setup: &Setup<'_>,
    cfg: &AnArrayConfig,
    spec: &FaultSpec,
) -> Result<DetectionRecord> {
    setup.check()?;
    let arr = AnArray::program_with(
        setup.device,
        setup.w,
        setup.b,
        cfg,
        &setup.variability,
        &mut setup.rng(0),
    )?;
    let (rows, cols) = arr.shape();
    let mut rng = setup.rng(1);
    let mask = spec.shape.mask(rows, cols, &mut rng)?;
    let faults = LayerFaults::from_mask(&mask, spec.state, spec.level, &mut rng);
    let x = arr.quantize_inputs(setup.x);
    let expected = arr.expected(x.as_ref());
    let clean = arr.run(x.as_ref(), None, &mut setup.rng(2));
    let faulty = arr.run(x.as_ref(), Some(&faults), &mut setup.rng(3));
    // The likely transient errors of a bit-serial array: one ADC conversion off by one LSB in
    // cycle t, i.e. +-2^t for t < input_bits (fewer if A cannot separate them all).
    let nb = ResidueTable::max_single_bits(cfg.a).min(cfg.input_bits);
    let table = if cfg.a > 1 {
        Some(ResidueTable::single_arithmetic(cfg.a, nb)?)
    } else {
        None
    };
    let mut t = Tally::default();
    for i in 0..x.nrows() {
        let wrong = |m: &Mat<i64>| (0..cols).any(|j| m[(i, j)] != expected[(i, j)]);
        let flagged = |m: &Mat<i64>| (0..cols).any(|j| arr.residue(m[(i, j)]) != 0);
        t.clean(wrong(&clean), flagged(&clean));
        let (mut claimed, mut restored, mut detected_only) = (false, true, false);
        for j in 0..cols {
            let v = faulty[(i, j)];
            let (fixed, outcome) = match &table {
                Some(tb) => tb.correct(v),
                None => (v, ResidueOutcome::Clean),
            };
            match outcome {
                ResidueOutcome::Corrected { .. } => claimed = true,
                ResidueOutcome::Detected => detected_only = true,
                ResidueOutcome::Clean => {}
            }
            restored &= fixed == expected[(i, j)];
        }
        let erroneous = wrong(&faulty);
        t.faulty(
            erroneous,
            flagged(&faulty),
            claimed && !detected_only,
            restored,
        );
    }
    Ok(t.record(
        format!("an-{}", cfg.a),
        spec,
        faults.len(),
        Hardware {
            data_columns: cols as u32,
            extra_columns: 0,
            extra_sensed: 0,
            extra_adc_bits: f64::from(arr.adc_bits()) - f64::from(arr.adc_bits_plain()),
            corrects: table.is_some(),
        },
    ))
}

/// A code the detection protocol runs: every code family of xbar-ecc implements it, and
/// [`registry`] lists them. A new family is its code in xbar-ecc, one impl here and one line
/// in [`registry`] (plus its name in [`CodeFamily`]).
pub trait DetectionCode: Sync {
    /// The family the code belongs to (what `[detection] codes` selects).
    fn family(&self) -> CodeFamily;
    /// Runs the protocol (encode, program, inject, read, check, decode) for this code.
    fn run(&self, setup: &Setup<'_>, spec: &FaultSpec) -> Result<DetectionRecord>;
}

/// The real-number code with the all-ones output check on a projected copy of the layer (no
/// fine-tuning: detection does not depend on accuracy).
struct RealNumber;

impl DetectionCode for RealNumber {
    fn family(&self) -> CodeFamily {
        CodeFamily::Rnecc
    }
    fn run(&self, setup: &Setup<'_>, spec: &FaultSpec) -> Result<DetectionRecord> {
        let (coded_w, coded_b, checks) = type2_only_copy(setup)?;
        let coded = Setup {
            w: coded_w.as_ref(),
            b: &coded_b,
            ..*setup
        };
        detect_rnecc(&coded, checks.as_ref(), spec)
    }
}

impl DetectionCode for TernaryCode {
    fn family(&self) -> CodeFamily {
        match self.kind() {
            TernaryKind::Lhc => CodeFamily::Lhc,
            TernaryKind::SecDed => CodeFamily::Secded,
        }
    }
    fn run(&self, setup: &Setup<'_>, spec: &FaultSpec) -> Result<DetectionRecord> {
        detect_abft(setup, self, spec)
    }
}

impl DetectionCode for WeightedChecksum {
    fn family(&self) -> CodeFamily {
        CodeFamily::Wcs
    }
    fn run(&self, setup: &Setup<'_>, spec: &FaultSpec) -> Result<DetectionRecord> {
        detect_abft(setup, self, spec)
    }
}

impl DetectionCode for AnArrayConfig {
    fn family(&self) -> CodeFamily {
        CodeFamily::An
    }
    fn run(&self, setup: &Setup<'_>, spec: &FaultSpec) -> Result<DetectionRecord> {
        detect_an(setup, self, spec)
    }
}

/// The codes of `families` for a layer of `outputs` columns, with default parameters, in
/// report order: the real-number code, LHC, SEC/DED, the Luk-Park and Jou-Abraham weighted
/// checksums (distance 3; the second only up to 1000 outputs) and AN codes with `A = 29` and
/// `A = 233` (4-bit weights, 8-bit inputs).
///
/// ```
/// use xbar_experiment::CodeFamily;
/// use xbar_experiment::detection_protocol::registry;
/// let all = registry(50, &CodeFamily::ALL)?;
/// assert_eq!(all.len(), 7);
/// let an = registry(50, &[CodeFamily::An])?;
/// assert!(an.iter().all(|c| c.family() == CodeFamily::An));
/// # Ok::<(), xbar_ecc::EccError>(())
/// ```
pub fn registry(outputs: usize, families: &[CodeFamily]) -> Result<Vec<Box<dyn DetectionCode>>> {
    let k = outputs;
    let mut all: Vec<Box<dyn DetectionCode>> = vec![Box::new(RealNumber)];
    for kind in [TernaryKind::Lhc, TernaryKind::SecDed] {
        all.push(Box::new(TernaryCode::new(kind, k)?));
    }
    for scheme in [WeightScheme::Linear, WeightScheme::PowersOfTwo] {
        if scheme == WeightScheme::PowersOfTwo && k > 1000 {
            continue;
        }
        all.push(Box::new(WeightedChecksum::new(scheme, k, 3)?));
    }
    for a in [29, 233] {
        all.push(Box::new(AnArrayConfig::with_a(a)));
    }
    all.retain(|c| families.contains(&c.family()));
    Ok(all)
}

/// The codes of `families` ([`registry`]) under one defect, in registry order.
pub fn detection_suite(
    setup: &Setup<'_>,
    spec: &FaultSpec,
    families: &[CodeFamily],
) -> Result<Vec<DetectionRecord>> {
    setup.check()?;
    registry(setup.w.ncols(), families)?
        .iter()
        .map(|c| c.run(setup, spec))
        .collect()
}

/// The layer projected onto `H 1 = 0` alone (no type-1 constraints): weights, biases, checks.
fn type2_only_copy(setup: &Setup<'_>) -> Result<(Mat<f64>, Vec<f64>, Mat<f64>)> {
    let (n_in, out) = (setup.w.nrows(), setup.w.ncols());
    let code = WeightCode::new(
        n_in + 1,
        out,
        &CodeConfig {
            group_rows: 0,
            type1_per_group: 0,
            type2: Type2::AllOnes,
            seed: setup.seed,
        },
    )?;
    let mut h = Mat::from_fn(n_in + 1, out, |i, j| {
        if i < n_in {
            setup.w[(i, j)]
        } else {
            setup.b[j]
        }
    });
    code.project(h.as_mut());
    let w = h.as_ref().subrows(0, n_in).to_owned();
    let b = (0..out).map(|j| h[(n_in, j)]).collect();
    Ok((w, b, code.checks().to_owned()))
}

/// A fault on one input line (a DAC or word-line driver).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputFault {
    /// The line is held at 0 V.
    StuckLow {
        /// Input index.
        line: usize,
    },
    /// The line is held at full scale (`v_in_max`; AN: every bit set).
    StuckHigh {
        /// Input index.
        line: usize,
    },
    /// The line's voltage is shifted by `volts` (AN: by the nearest number of input steps).
    Offset {
        /// Input index.
        line: usize,
        /// Shift in V.
        volts: f64,
    },
}

impl InputFault {
    fn line(&self) -> usize {
        match *self {
            InputFault::StuckLow { line }
            | InputFault::StuckHigh { line }
            | InputFault::Offset { line, .. } => line,
        }
    }

    fn label(&self) -> String {
        match *self {
            InputFault::StuckLow { line } => format!("stuck-low-{line}"),
            InputFault::StuckHigh { line } => format!("stuck-high-{line}"),
            InputFault::Offset { line, volts } => format!("offset-{line}-{volts}V"),
        }
    }

    fn apply_volts(&self, v: f64, v_max: f64) -> f64 {
        match *self {
            InputFault::StuckLow { .. } => 0.0,
            InputFault::StuckHigh { .. } => v_max,
            InputFault::Offset { volts, .. } => v + volts,
        }
    }
}

/// What one check sees of an input fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputFaultRecord {
    /// The check (`rnecc-ones`, `lhc`, `secded`, `an-29`, `input-checksum`).
    pub code: String,
    /// The fault.
    pub fault: String,
    /// Input vectors.
    pub vectors: u32,
    /// Vectors whose data outputs deviate beyond the noise band (AN: any integer difference).
    pub erroneous: u32,
    /// Erroneous vectors the check flagged.
    pub detected: u32,
    /// `detected / erroneous`.
    pub detection_rate: f64,
    /// Largest output error over the batch, relative to the largest reference output.
    pub max_relative_error: f64,
}

/// Shows what output-side codes cannot see: a faulty input line makes the array compute the
/// layer for the wrong input, a valid codeword (`(W x', P W x')`, `c^T y' = 0`, `A y'`), so every
/// output-side check passes while the outputs are wrong. The last record is an input-side check
/// that does see it: one extra column of equal weights whose output (the array's own
/// `sum_i f(V_i)`) is compared with the same sum computed digitally from the intended inputs.
pub fn input_fault_blindness(
    setup: &Setup<'_>,
    fault: InputFault,
) -> Result<Vec<InputFaultRecord>> {
    setup.check()?;
    if fault.line() >= setup.w.nrows() {
        return Err(invalid(
            "line",
            fault.line(),
            format!("an input index below {}", setup.w.nrows()),
        ));
    }
    let mut records = Vec::new();
    let out = setup.w.ncols();
    let label = fault.label();
    let n = setup.x.nrows();
    let rate = |d: u32, e: u32| {
        if e == 0 {
            0.0
        } else {
            f64::from(d) / f64::from(e)
        }
    };

    // Analog codes: the real-number check and two ABFT codes.
    let (coded_w, coded_b, checks) = type2_only_copy(setup)?;
    let abft_codes: Vec<Box<dyn CheckCode>> = vec![
        Box::new(TernaryCode::new(TernaryKind::Lhc, out)?),
        Box::new(TernaryCode::new(TernaryKind::SecDed, out)?),
    ];
    // (name, weights, biases, index into abft_codes)
    type Variant = (String, Mat<f64>, Vec<f64>, Option<usize>);
    let mut variants: Vec<Variant> = vec![("rnecc-ones".into(), coded_w, coded_b, None)];
    for (ci, c) in abft_codes.iter().enumerate() {
        let enc = encode_layer(c.as_ref(), setup.w, setup.b)?;
        variants.push((c.name(), enc.w, enc.b, Some(ci)));
    }
    // Input-side check: one extra column with every weight equal to max |W|.
    let w_max = (0..setup.w.nrows())
        .flat_map(|i| (0..out).map(move |j| (i, j)))
        .fold(0.0f64, |a, (i, j)| a.max(setup.w[(i, j)].abs()))
        .max(1e-12);
    let with_col = Mat::from_fn(setup.w.nrows(), out + 1, |i, j| {
        if j < out { setup.w[(i, j)] } else { w_max }
    });
    let mut b_col = setup.b.to_vec();
    b_col.push(0.0);
    variants.push(("input-checksum".into(), with_col, b_col, None));

    for (name, w, b, abft) in &variants {
        let a = Analog::program(setup, w.as_ref(), b)?;
        let layer = &a.net.layers[0];
        let healthy = layer.healthy_gdiff();
        let v_max = a.net.circuit.v_in_max;
        let v_in = a.net.input_voltages(setup.x);
        let mut v_bad = v_in.clone();
        for i in 0..n {
            v_bad[(i, fault.line())] = fault.apply_volts(v_bad[(i, fault.line())], v_max);
        }
        let f_bad = a.net.transfer(v_bad.as_ref());
        let y_ref = a.outputs(&healthy, a.f_in.as_ref(), None, 0.0);
        let y_bad = a.outputs(
            &healthy,
            f_bad.as_ref(),
            Some(&mut setup.rng(3)),
            setup.sigma_read,
        );
        let ref_max = (0..n)
            .flat_map(|i| (0..out).map(move |j| (i, j)))
            .fold(0.0f64, |m, (i, j)| m.max(y_ref[(i, j)].abs()))
            .max(1e-300);
        let mut max_err = 0.0f64;
        let (mut erroneous, mut detected) = (0u32, 0u32);
        let flags: Vec<bool> = match (name.as_str(), abft) {
            (_, Some(ci)) => {
                let code = abft_codes[*ci].as_ref();
                let enc_scale = encode_layer(code, setup.w, setup.b)?.scale;
                let (k, r) = (code.k(), code.r());
                let p = code.check_matrix();
                (0..n)
                    .map(|i| {
                        let y: Vec<f64> = (0..k).map(|j| y_bad[(i, j)]).collect();
                        let z: Vec<f64> = (0..r).map(|c| y_bad[(i, k + c)] * enc_scale).collect();
                        let vy: Vec<f64> = (0..k).map(|j| a.var[(i, j)]).collect();
                        let vz: Vec<f64> = (0..r).map(|c| a.var[(i, k + c)]).collect();
                        let mut tau = vec![0.0; r];
                        syndrome_thresholds(&p, &vy, &vz, enc_scale, a.noise.kappa, &mut tau);
                        let mut s = vec![0.0; r];
                        code.syndrome(&y, &z, &mut s);
                        code.decode(&s, &tau).flagged()
                    })
                    .collect()
            }
            ("rnecc-ones", None) => {
                let check = OutputCheck::new(checks.as_ref(), layer, &a.noise)?;
                // The check's thresholds use the row voltages actually applied.
                check
                    .check(y_bad.as_ref(), f_bad.as_ref(), a.net.bias_transfer())
                    .flagged
            }
            _ => {
                // Digital reference of the extra column from the intended inputs.
                let col = out;
                (0..n)
                    .map(|i| {
                        let diff = y_bad[(i, col)] - y_ref[(i, col)];
                        diff.abs() > a.tolerance(i, col)
                    })
                    .collect()
            }
        };
        for (i, &flag) in flags.iter().enumerate() {
            let e = a.erroneous(&y_bad, &y_ref, i, out);
            for j in 0..out {
                max_err = max_err.max((y_bad[(i, j)] - y_ref[(i, j)]).abs());
            }
            if e {
                erroneous += 1;
                if flag {
                    detected += 1;
                }
            }
        }
        records.push(InputFaultRecord {
            code: name.clone(),
            fault: label.clone(),
            vectors: n as u32,
            erroneous,
            detected,
            detection_rate: rate(detected, erroneous),
            max_relative_error: max_err / ref_max,
        });
    }

    // AN code: the DAC fault changes the integer input; the array returns A y' exactly.
    let cfg = AnArrayConfig::with_a(29);
    let arr = AnArray::program(setup.device, setup.w, setup.b, &cfg)?;
    let x = arr.quantize_inputs(setup.x);
    let xm = arr.x_max();
    let step = CircuitConfig::default().v_in_max / f64::from(xm);
    let line = fault.line();
    let x_bad = Mat::from_fn(x.nrows(), x.ncols(), |i, j| {
        let v = x[(i, j)];
        if j != line {
            return v;
        }
        match fault {
            InputFault::StuckLow { .. } => 0,
            InputFault::StuckHigh { .. } => xm,
            InputFault::Offset { volts, .. } => {
                (f64::from(v) + (volts / step).round()).clamp(0.0, f64::from(xm)) as u32
            }
        }
    });
    let expected = arr.expected(x.as_ref());
    let got = arr.run(x_bad.as_ref(), None, &mut setup.rng(3));
    let (mut erroneous, mut detected) = (0u32, 0u32);
    let mut max_err = 0i64;
    let mut ref_max = 1i64;
    for i in 0..n {
        let mut e = false;
        let mut f = false;
        for j in 0..out {
            let d = (got[(i, j)] - expected[(i, j)]).abs();
            max_err = max_err.max(d);
            ref_max = ref_max.max(expected[(i, j)].abs());
            e |= d != 0;
            f |= arr.residue(got[(i, j)]) != 0;
        }
        if e {
            erroneous += 1;
            if f {
                detected += 1;
            }
        }
    }
    records.push(InputFaultRecord {
        code: "an-29".into(),
        fault: label,
        vectors: n as u32,
        erroneous,
        detected,
        detection_rate: rate(detected, erroneous),
        max_relative_error: max_err as f64 / ref_max as f64,
    });
    Ok(records)
}
