//! AN codes on a crossbar (after Feinberg, Wang, Ipek, HPCA 2018; mechanics in
//! `reference/ecc-math.md` C.5).
//!
//! # Model
//!
//! - **Weights**: the layer `y = x W + b` (array layout, bias row last) is quantised to
//!   integers `w_ij` in `[-q_max, q_max]`, `q_max = 2^(weight_bits-1) - 1`, and stored as
//!   `A w_ij` conductance levels of a differential pair: `G± = G_0 + max(±A w, 0) g_u`.
//!   The level grid keeps a guard of `m` levels at both ends of the device range:
//!   `G_0 = G_min + m g_u`, `G_0 + A q_max g_u = G_max - m g_u`. The guard matters: a device
//!   stuck at `G_min` or `G_max` must *not* sit on a multiple of `A` levels, or its error is a
//!   valid code word. The default `m = (A - 1)/2` puts the stuck states half a code step away.
//! - **Inputs**: integers `x_i` in `[0, 2^input_bits - 1]` (`x = round(pixel * x_max)`, the
//!   bias row always `x_max`), applied bit-serially: in cycle `t` row `i` gets `v_read` if bit
//!   `t` of `x_i` is set, else 0 V. A binary read level makes the sinh pre-distortion a
//!   constant factor `f(v_read)`, so every cycle is exactly linear.
//! - **ADC**: per column and cycle, `round(I / (f(v_read) g_u) + noise)`, saturating at the
//!   converter's range; cycles are combined by shift-and-add into `ŷ_c = sum_t 2^t code_t`.
//!   A healthy array returns exactly `A y` with `y = sum_i w_ij x_i`.
//! - **Check**: residue `ŷ_c mod A`; zero means accept (`y = ŷ_c / A`).
//! - **Correction**: [`ResidueTable`] maps residues of likely errors to the errors. An ADC
//!   off by one LSB in cycle `t` adds `±2^t`, exactly the single arithmetic errors of the
//!   classic table.
//!
//! What it costs: `log2 A` more ADC bits per output (the ADC resolves `A y`), one modulus per
//! output, and `A` times more conductance levels per device (or bit slices).
//!
//! What it cannot see: a fault that changes a weight to another multiple of `A` (a pair stuck
//! at the same state gives weight 0, a valid code word), and input (DAC) faults (the array
//! computes a valid `A y'` for the wrong input).

use std::collections::HashMap;

use faer::{Accum, Mat, MatRef, Par};
use rand::Rng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use xbar_crossbar::{LayerFaults, ProgrammedLayer};
use xbar_device::{DeviceParams, Variability};

use crate::error::{EccError, Result, invalid};

/// Parameters of an AN-coded array.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnArrayConfig {
    /// The AN constant `A` (odd; 1 = no code).
    pub a: u64,
    /// Weight bits including the sign (`q_max = 2^(bits-1) - 1`), 2..=16.
    pub weight_bits: u32,
    /// Input bits (one read cycle each), 1..=16.
    pub input_bits: u32,
    /// Guard levels `m` between the device limits and the programmed range; `None`:
    /// `(A - 1) / 2`.
    pub margin_levels: Option<u32>,
    /// Read voltage of a set input bit, in V.
    pub v_read: f64,
    /// Standard deviation of the noise at the ADC input, in LSB of one cycle.
    pub adc_noise_lsb: f64,
}

impl AnArrayConfig {
    /// `A = 29`, 4-bit weights, 8-bit inputs, default guard, 0.1 V reads, no noise. 29 is
    /// prime with 2 as a primitive root, so its residue table corrects every `±2^j` error for
    /// `j < 14`.
    pub fn with_a(a: u64) -> AnArrayConfig {
        AnArrayConfig {
            a,
            weight_bits: 4,
            input_bits: 8,
            margin_levels: None,
            v_read: 0.1,
            adc_noise_lsb: 0.0,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.a == 0 || self.a.is_multiple_of(2) || self.a > 1 << 20 {
            return Err(invalid("a", self.a, "an odd constant in 1..=2^20"));
        }
        if !(2..=16).contains(&self.weight_bits) {
            return Err(invalid("weight_bits", self.weight_bits, "2..=16"));
        }
        if !(1..=16).contains(&self.input_bits) {
            return Err(invalid("input_bits", self.input_bits, "1..=16"));
        }
        if !(self.v_read.is_finite() && self.v_read > 0.0 && self.v_read <= 1.0) {
            return Err(invalid("v_read", self.v_read, "(0, 1] V"));
        }
        if !(self.adc_noise_lsb.is_finite() && self.adc_noise_lsb >= 0.0) {
            return Err(invalid(
                "adc_noise_lsb",
                self.adc_noise_lsb,
                "finite and >= 0",
            ));
        }
        Ok(())
    }

    /// The guard `m` in levels.
    pub fn margin(&self) -> u32 {
        self.margin_levels.unwrap_or(((self.a - 1) / 2) as u32)
    }
}

/// An AN-coded array programmed from a software layer.
#[derive(Clone, Debug)]
pub struct AnArray {
    cfg: AnArrayConfig,
    device: DeviceParams,
    /// Integer weights (before multiplying by `A`), `rows x cols`, bias row last.
    weights: Vec<i64>,
    rows: usize,
    cols: usize,
    /// The programmed conductances (fields `k`, `r_load`, `input_scale` are unused here).
    layer: ProgrammedLayer,
    g_unit: f64,
    w_step: f64,
    adc_max: i64,
}

impl AnArray {
    /// Quantises `y = x w + b` (`w`: `in x out`) and programs `A w` as conductance levels,
    /// exactly.
    pub fn program(
        device: DeviceParams,
        w: MatRef<'_, f64>,
        b: &[f64],
        cfg: &AnArrayConfig,
    ) -> Result<AnArray> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        Self::program_with(device, w, b, cfg, &Variability::default(), &mut rng)
    }

    /// As [`AnArray::program`], with programming variability: every device's target
    /// conductance goes through `variability.program` (row, column, then `+`/`-` order).
    /// A level step is `(G_max - G_min) / (A q_max + 2 m)`, so a lognormal spread of even 1 %
    /// moves the upper devices by many levels: AN codes need precise levels.
    pub fn program_with<R: Rng + ?Sized>(
        device: DeviceParams,
        w: MatRef<'_, f64>,
        b: &[f64],
        cfg: &AnArrayConfig,
        variability: &Variability,
        rng: &mut R,
    ) -> Result<AnArray> {
        cfg.validate()?;
        if b.len() != w.ncols() {
            return Err(EccError::Shape {
                what: format!("{} biases for {} outputs", b.len(), w.ncols()),
            });
        }
        let (n_in, cols) = (w.nrows(), w.ncols());
        let rows = n_in + 1;
        let q_max = (1i64 << (cfg.weight_bits - 1)) - 1;
        let aug = |i: usize, j: usize| if i < n_in { w[(i, j)] } else { b[j] };
        let mut w_max = 0.0f64;
        for i in 0..rows {
            for j in 0..cols {
                w_max = w_max.max(aug(i, j).abs());
            }
        }
        let w_step = if w_max > 0.0 {
            w_max / q_max as f64
        } else {
            1.0
        };
        let mut weights = vec![0i64; rows * cols];
        for i in 0..rows {
            for j in 0..cols {
                weights[i * cols + j] = ((aug(i, j) / w_step).round() as i64).clamp(-q_max, q_max);
            }
        }
        let a = cfg.a as i64;
        let m = f64::from(cfg.margin());
        let span = device.g_max() - device.g_min();
        let g_unit = span / ((a * q_max) as f64 + 2.0 * m);
        let g0 = device.g_min() + m * g_unit;
        let mut g_plus = Mat::<f64>::zeros(rows, cols);
        let mut g_minus = Mat::<f64>::zeros(rows, cols);
        for i in 0..rows {
            for j in 0..cols {
                let aw = a * weights[i * cols + j];
                let tp = g0 + aw.max(0) as f64 * g_unit;
                let tm = g0 + (-aw).max(0) as f64 * g_unit;
                g_plus[(i, j)] = variability.program(&device, tp, rng);
                g_minus[(i, j)] = variability.program(&device, tm, rng);
            }
        }
        // The ADC is sized for the healthy array: the largest per-cycle column sum.
        let mut worst = 0i64;
        for j in 0..cols {
            let mut s = 0;
            for i in 0..rows {
                s += (a * weights[i * cols + j]).abs();
            }
            worst = worst.max(s);
        }
        let layer = ProgrammedLayer {
            g_plus,
            g_minus,
            k: 1.0 / g_unit,
            w_scale: w_max,
            r_load: 1.0,
            input_scale: cfg.v_read,
            rectify: false,
            wiring: xbar_crossbar::Wiring::Dense,
            post: Vec::new(),
            adc: None,
        };
        Ok(AnArray {
            cfg: *cfg,
            device,
            weights,
            rows,
            cols,
            layer,
            g_unit,
            w_step,
            adc_max: worst.max(1),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AnArrayConfig {
        &self.cfg
    }

    /// Array rows (inputs + bias) and columns.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The integer weight `w_ij` (before the factor `A`).
    pub fn weight(&self, i: usize, j: usize) -> i64 {
        self.weights[i * self.cols + j]
    }

    /// The programmed conductances, usable with `xbar_crossbar::LayerFaults`.
    pub fn programmed(&self) -> &ProgrammedLayer {
        &self.layer
    }

    /// One conductance level `g_u`, in S.
    pub fn level(&self) -> f64 {
        self.g_unit
    }

    /// Software weight per integer weight step (`max |W| / q_max`).
    pub fn weight_step(&self) -> f64 {
        self.w_step
    }

    /// Largest input integer `2^input_bits - 1`.
    pub fn x_max(&self) -> u32 {
        (1u32 << self.cfg.input_bits) - 1
    }

    /// ADC resolution (bits, sign included) needed per cycle with the code: the largest
    /// healthy column sum `A sum_i |w_ij|` must be representable.
    pub fn adc_bits(&self) -> u32 {
        bits_for(self.adc_max)
    }

    /// ADC resolution the same array would need without the code (`A = 1`).
    pub fn adc_bits_plain(&self) -> u32 {
        bits_for((self.adc_max / self.cfg.a as i64).max(1))
    }

    /// Integer inputs for software inputs in `[0, 1]` (`n x in`): `round(x x_max)`, clamped.
    pub fn quantize_inputs(&self, x: MatRef<'_, f64>) -> Mat<u32> {
        let xm = f64::from(self.x_max());
        Mat::from_fn(x.nrows(), x.ncols(), |i, j| {
            (x[(i, j)] * xm).round().clamp(0.0, xm) as u32
        })
    }

    /// The exact coded outputs `A sum_i w_ij x_i` of the healthy array (`n x cols`).
    pub fn expected(&self, x: MatRef<'_, u32>) -> Mat<i64> {
        let n_in = self.rows - 1;
        let xm = i64::from(self.x_max());
        let a = self.cfg.a as i64;
        Mat::from_fn(x.nrows(), self.cols, |t, j| {
            let mut s = xm * self.weight(n_in, j);
            for i in 0..n_in {
                s += i64::from(x[(t, i)]) * self.weight(i, j);
            }
            a * s
        })
    }

    /// Runs the array on integer inputs `x` (`n x in`), bit-serially, with the stuck devices
    /// of `faults` (if any) and the ADC noise of the configuration (drawn from `rng`, column
    /// by column within each cycle). Returns the coded outputs `ŷ_c` (`n x cols`).
    pub fn run<R: Rng + ?Sized>(
        &self,
        x: MatRef<'_, u32>,
        faults: Option<&LayerFaults>,
        rng: &mut R,
    ) -> Mat<i64> {
        let n_in = self.rows - 1;
        assert_eq!(x.ncols(), n_in, "AnArray::run: input width");
        let gdiff = match faults {
            Some(f) if !f.is_empty() => self.layer.faulty_gdiff(&self.device, f),
            _ => self.layer.healthy_gdiff(),
        };
        let f_read = self.device.read_transfer(self.cfg.v_read);
        let unit = 1.0 / (f_read * self.g_unit);
        let n = x.nrows();
        let mut out = Mat::from_fn(n, self.cols, |_, _| 0i64);
        let mut bits = Mat::<f64>::zeros(n, n_in);
        let mut cur = Mat::<f64>::zeros(n, self.cols);
        let lim = self.adc_max;
        for t in 0..self.cfg.input_bits {
            for i in 0..n_in {
                for s in 0..n {
                    bits[(s, i)] = if x[(s, i)] >> t & 1 == 1 { f_read } else { 0.0 };
                }
            }
            faer::linalg::matmul::matmul(
                cur.as_mut(),
                Accum::Replace,
                bits.as_ref(),
                gdiff.as_ref().subrows(0, n_in),
                1.0,
                Par::Seq,
            );
            for j in 0..self.cols {
                let bias = f_read * gdiff[(n_in, j)];
                for s in 0..n {
                    let mut v = (cur[(s, j)] + bias) * unit;
                    if self.cfg.adc_noise_lsb > 0.0 {
                        let z: f64 = StandardNormal.sample(rng);
                        v += self.cfg.adc_noise_lsb * z;
                    }
                    let code = (v.round() as i64).clamp(-lim, lim);
                    out[(s, j)] += code << t;
                }
            }
        }
        out
    }

    /// Largest `|y|` a healthy array can produce: `x_max max_j sum_i |w_ij|`.
    pub fn output_bound(&self) -> i64 {
        i64::from(self.x_max()) * (self.adc_max / self.cfg.a as i64)
    }

    /// The online check of a batch with the improved AN test: per input (row of `yc`,
    /// `n x cols`), whether any output fails `|ŷ_c A^-1 mod 2^64| <= bound` (one multiplication
    /// and one comparison per output, no division). It flags every output with a nonzero
    /// residue (for `|ŷ_c| < 2^62`: `ŷ_c A^-1 = δ mod 2^64` with a small `δ` forces
    /// `ŷ_c = A δ`), and also the multiples of `A` that lie outside the healthy range (outputs
    /// no healthy array can produce), which the classic residue test accepts.
    pub fn check_rows(&self, yc: &Mat<i64>) -> Vec<bool> {
        let inv = crate::an::mod_inverse(self.cfg.a).expect("A is odd");
        let bound = self.output_bound() as u64;
        let mut flags = vec![false; yc.nrows()];
        for j in 0..yc.ncols() {
            for (i, f) in flags.iter_mut().enumerate() {
                let y = (yc[(i, j)] as u64).wrapping_mul(inv);
                // |y| <= bound as one unsigned comparison: (y + bound) mod 2^64 <= 2 bound.
                *f |= y.wrapping_add(bound) > 2 * bound;
            }
        }
        flags
    }

    /// The same check with the classic test: one signed remainder per output.
    pub fn check_rows_classic(&self, yc: &Mat<i64>) -> Vec<bool> {
        let a = self.cfg.a as i64;
        let mut flags = vec![false; yc.nrows()];
        for j in 0..yc.ncols() {
            for (i, f) in flags.iter_mut().enumerate() {
                *f |= yc[(i, j)].rem_euclid(a) != 0;
            }
        }
        flags
    }

    /// Residue `ŷ_c mod A` in `0..A`.
    pub fn residue(&self, yc: i64) -> u64 {
        yc.rem_euclid(self.cfg.a as i64) as u64
    }
}

fn bits_for(max_abs: i64) -> u32 {
    // Sign bit plus magnitude bits.
    65 - (max_abs as u64).leading_zeros()
}

/// What [`ResidueTable::correct`] did with one output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResidueOutcome {
    /// Residue 0: accepted as is.
    Clean,
    /// The residue is in the table: the error was subtracted.
    Corrected {
        /// The error removed from the output.
        error: i64,
    },
    /// Nonzero residue not in the table: detected, not corrected.
    Detected,
}

/// Residue -> error table for the likely errors of an AN code (Feinberg et al. 2018).
///
/// ```
/// use xbar_ecc::an::array::{ResidueOutcome, ResidueTable};
/// let t = ResidueTable::single_arithmetic(29, 14)?;
/// let yc = 29 * 1234 + 256; // an error of +2^8
/// assert_eq!(t.correct(yc), (29 * 1234, ResidueOutcome::Corrected { error: 256 }));
/// assert_eq!(ResidueTable::max_single_bits(29), 14);
/// # Ok::<(), xbar_ecc::EccError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResidueTable {
    a: u64,
    map: HashMap<u64, i64>,
}

impl ResidueTable {
    /// A table for the listed errors; fails if an error has residue 0 (undetectable) or two
    /// errors share a residue (ambiguous).
    pub fn new(a: u64, errors: &[i64]) -> Result<ResidueTable> {
        if !(2..=1 << 40).contains(&a) {
            return Err(invalid("a", a, "2..=2^40"));
        }
        let mut map = HashMap::with_capacity(errors.len());
        for &e in errors {
            let r = e.rem_euclid(a as i64) as u64;
            if r == 0 {
                return Err(invalid(
                    "error",
                    e,
                    format!("a value that is not a multiple of A = {a}"),
                ));
            }
            if let Some(&other) = map.get(&r)
                && other != e
            {
                return Err(invalid(
                    "error",
                    e,
                    format!("a residue mod {a} distinct from that of {other}"),
                ));
            }
            map.insert(r, e);
        }
        Ok(ResidueTable { a, map })
    }

    /// The classic table for single arithmetic errors `±2^j`, `j < n_bits`.
    pub fn single_arithmetic(a: u64, n_bits: u32) -> Result<ResidueTable> {
        if n_bits > 62 {
            return Err(invalid("n_bits", n_bits, "0..=62"));
        }
        let errors: Vec<i64> = (0..n_bits)
            .flat_map(|j| [1i64 << j, -(1i64 << j)])
            .collect();
        ResidueTable::new(a, &errors)
    }

    /// The largest `n_b` for which the residues of `±2^j` (`j < n_b`) are nonzero and
    /// distinct: `(A - 1) / 2` for a prime `A` with 2 as a primitive root.
    pub fn max_single_bits(a: u64) -> u32 {
        (0..=62)
            .take_while(|&n| ResidueTable::single_arithmetic(a, n).is_ok())
            .last()
            .unwrap_or(0)
    }

    /// The modulus.
    pub fn a(&self) -> u64 {
        self.a
    }

    /// Number of correctable errors.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True for an empty table.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Checks a coded value and corrects it if its residue is in the table. Returns the
    /// (possibly corrected) value and what happened.
    pub fn correct(&self, yc: i64) -> (i64, ResidueOutcome) {
        let r = yc.rem_euclid(self.a as i64) as u64;
        if r == 0 {
            return (yc, ResidueOutcome::Clean);
        }
        match self.map.get(&r) {
            Some(&e) => (yc - e, ResidueOutcome::Corrected { error: e }),
            None => (yc, ResidueOutcome::Detected),
        }
    }
}
